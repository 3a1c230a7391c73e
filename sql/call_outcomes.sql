-- call_outcomes: one row per call an agent made from the worklist, with what happened.
create table if not exists call_outcomes (
    call_outcome_id {{auto_id}},
    customer_id bigint not null references customers (customer_id),
    score_date date not null,
    agent_id text not null,
    outcome text not null
        check (outcome in ('subscribed', 'declined', 'no_answer', 'call_back', 'do_not_call')),
    notes text,
    called_at timestamp not null default current_timestamp
);

create index if not exists call_outcomes_customer on call_outcomes (customer_id, score_date);
