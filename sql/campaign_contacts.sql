-- campaign_contacts: one row per past call, with the customer's attributes as they were
-- at the call and the outcome. contact_date is null when the file order could not
-- give the year (a shuffled sample such as bank.csv); month and day are always kept.
-- duration_seconds is known only after the call: kept for analysis, never a feature.
create table if not exists campaign_contacts (
    contact_id bigint primary key,
    customer_id bigint not null references customers (customer_id),
    load_batch_id integer references load_batches (load_batch_id),
    source_line integer,
    contact_date date,
    contact_year integer,
    contact_month text not null,
    contact_day integer not null,
    age integer not null,
    job text not null,
    marital text not null,
    education text not null,
    has_credit_default boolean not null,
    balance bigint not null,
    has_housing_loan boolean not null,
    has_personal_loan boolean not null,
    contact_channel text not null,
    campaign integer not null,
    pdays integer not null,
    previous_contacts integer not null,
    previous_outcome text not null,
    duration_seconds integer,
    is_subscribed boolean not null,
    -- A row harvested from an agent's call (bank_scoring/loop/harvest.py; its contact_id is
    -- 10^12 + the call's id, above any loaded row's): the call, and the scoring run, model
    -- version and rank that handed the lead out. Null for loaded rows.
    call_outcome_id bigint,
    run_id integer,
    model_version integer,
    lead_rank integer,
    -- How the lead was chosen (sql/lead_assignments.sql): 'list' with probability 1, or
    -- 'exploration' with the probability it had to be drawn. Null for loaded rows and for
    -- calls made outside the list.
    selection text,
    selection_probability double precision
);

create index if not exists campaign_contacts_contact_date on campaign_contacts (contact_date);

-- Foreign keys to customers need an index on the referencing side, or every change to a
-- customer's key scans this table.
create index if not exists campaign_contacts_customer on campaign_contacts (customer_id);
