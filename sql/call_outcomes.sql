-- call_outcomes: one row per call an agent made, with what happened. A call made from a
-- claim (sql/lead_claims.sql) keeps its claim (at most one outcome per claim), and the
-- run, rank, band and propensity the lead was handed out with: the field check of the
-- model compares its expected subscriptions with what the calls brought.
create table if not exists call_outcomes (
    call_outcome_id {{auto_id}},
    customer_id bigint not null references customers (customer_id),
    score_date date not null,
    agent_id text not null,
    outcome text not null
        check (outcome in ('subscribed', 'declined', 'no_answer', 'call_back', 'do_not_call')),
    notes text,
    called_at timestamp not null default current_timestamp,
    claim_id bigint,
    run_id integer,
    rank integer,
    band text,
    propensity double precision,
    callback_at timestamp
);

create index if not exists call_outcomes_customer on call_outcomes (customer_id, score_date);

create unique index if not exists call_outcomes_claim on call_outcomes (claim_id);

create index if not exists call_outcomes_called_at on call_outcomes (called_at);
