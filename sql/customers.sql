-- customers: one row per customer, with the attributes the model scores today.
-- Feature columns are nullable on purpose: rows written by other bank systems may be
-- incomplete, and the nightly run records each unusable row in scoring_rejects.
-- has_objected: the customer objected to direct marketing and to profiling for it; the
-- nightly run does not score them (counted as suppressed) and they are never called.
-- time_zone: an IANA name (Europe/Lisbon) for calling hours; null means the centre's.
create table if not exists customers (
    customer_id bigint primary key,
    age integer,
    job text,
    marital text,
    education text,
    has_credit_default boolean,
    balance bigint,
    has_housing_loan boolean,
    has_personal_loan boolean,
    contact_channel text,
    campaign integer,
    pdays integer,
    previous_contacts integer,
    previous_outcome text,
    is_do_not_call boolean not null default false,
    has_objected boolean not null default false,
    time_zone text,
    load_batch_id integer references load_batches (load_batch_id),
    updated_at timestamp not null default current_timestamp
);
