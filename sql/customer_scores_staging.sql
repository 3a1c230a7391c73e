-- customer_scores_staging: one row per customer per running scoring run.
-- Partitions write here; publish moves a complete run into customer_scores and empties it.
create table if not exists customer_scores_staging (
    run_id integer not null,
    customer_id bigint not null,
    propensity double precision not null,
    primary key (run_id, customer_id)
);
