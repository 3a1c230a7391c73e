-- lead_claims: one row per lead handed to an agent. A claim is 'open' until the agent
-- records the call ('recorded'), gives it back ('released') or its lease runs out
-- ('expired'). At most one open claim per customer: the unique index is the last guard
-- against two agents holding the same customer, whatever the locking above it does.
create table if not exists lead_claims (
    claim_id {{auto_id}},
    customer_id bigint not null references customers (customer_id),
    agent_id text not null,
    run_id integer not null,
    score_date date not null,
    rank integer not null,
    band text not null,
    propensity double precision not null,
    is_callback boolean not null default false,
    status text not null check (status in ('open', 'recorded', 'released', 'expired')),
    claimed_at timestamp not null,
    expires_at timestamp not null,
    closed_at timestamp
);

create unique index if not exists lead_claims_one_open on lead_claims (customer_id) where status = 'open';

create index if not exists lead_claims_agent_open on lead_claims (agent_id) where status = 'open';

create index if not exists lead_claims_expiry on lead_claims (expires_at) where status = 'open';

create index if not exists lead_claims_agent_customer on lead_claims (agent_id, customer_id);
