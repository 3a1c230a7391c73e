-- customer_scores_staging: one row per customer per running scoring run.
-- Partitions write here; publish moves a complete run into customer_scores and empties it.
-- Unlogged on PostgreSQL (no WAL: a crash empties it, and the run is simply scored
-- again) and without a key: each partition deletes its id range before writing, and
-- publish refuses a run whose counts and id checksums do not match the customers.
create {{unlogged}} table if not exists customer_scores_staging (
    run_id integer not null,
    customer_id bigint not null,
    propensity double precision not null
);
