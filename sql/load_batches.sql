-- load_batches: one row per file (or synthetic batch) loaded into customers and campaign_contacts.
-- The sha256 of the source makes loading the same file twice a no-op.
create table if not exists load_batches (
    load_batch_id integer primary key,
    source_name text not null,
    source_sha256 text not null unique,
    row_count integer not null,
    first_customer_id bigint,
    last_customer_id bigint,
    has_rebuilt_dates boolean not null,
    loaded_at timestamp not null default current_timestamp
);
