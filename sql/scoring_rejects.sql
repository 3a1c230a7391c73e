-- scoring_rejects: one row per customer that a scoring run could not score, with why.
create table if not exists scoring_rejects (
    run_id integer not null references scoring_runs (run_id),
    customer_id bigint not null,
    score_date date not null,
    reason text not null,
    primary key (run_id, customer_id)
);
