-- lead_pool: one row per lead of the latest published night not yet handed out, best
-- first. Filled when a night is published (bank_scoring/agents/pool.py), leaving out
-- customers no rule will let be called that night, and replaced whole by the next night;
-- a claim takes its row. A lead that comes back (no answer, callback, release, expiry)
-- is found through contact_state.returns_at instead; on PostgreSQL, once its time has
-- come, it rejoins the pool at its rank (sql/lead_claim_functions.sql), and available_at
-- is that time: a claim clocked before it (agents' clocks differ a little) passes it by.
-- The nightly rows have none.
create table if not exists lead_pool (
    run_id integer not null,
    score_date date not null,
    rank integer not null,
    customer_id bigint not null,
    band text not null,
    propensity double precision not null,
    available_at timestamp,
    primary key (run_id, rank)
);

create index if not exists lead_pool_customer on lead_pool (customer_id);
