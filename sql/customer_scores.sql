-- customer_scores: one row per customer per score date, never two.
-- The key is (customer_id, score_date) on PostgreSQL: each night's partition builds it
-- from scratch, and keys that all start with the same date sort slowly. On SQLite
-- (score_date, customer_id) serves deleting a night.
-- rank 1 is the best lead of the day; band A is the top decile, B the next two, C the
-- next three, D the rest. run_id and model_version carry no foreign keys on purpose: one
-- publish writes every customer's row with the same two values, checked once by the
-- code, and a key check per row would cost more than the rest of the insert.
create table if not exists customer_scores (
    score_date date not null,
    customer_id bigint not null,
    run_id integer not null,
    model_version integer not null,
    propensity double precision not null check (propensity >= 0 and propensity <= 1),
    rank integer not null,
    band text not null check (band in ('A', 'B', 'C', 'D')),
    primary key ({{scores_key}})
) {{partition_by_date}};

create index if not exists customer_scores_run_rank on customer_scores (run_id, rank);
