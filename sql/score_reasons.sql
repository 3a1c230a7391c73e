-- score_reasons: for the customers at the top of a scoring run (the worklist, not every
-- customer), the three factors that raised the score most, in an agent's words.
create table if not exists score_reasons (
    run_id integer not null references scoring_runs (run_id),
    customer_id bigint not null,
    reason_1 text,
    reason_2 text,
    reason_3 text,
    primary key (run_id, customer_id)
);
