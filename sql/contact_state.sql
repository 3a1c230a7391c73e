-- contact_state: one row per customer an agent has had, with what the contact policy needs
-- to know: the last call, the attempts of the day and of the campaign, a pending callback,
-- and returns_at, when the customer goes back to the pool of leads (after a no-answer,
-- a callback time, a released or expired claim). Written with each claim and outcome.
create table if not exists contact_state (
    customer_id bigint primary key references customers (customer_id),
    campaign_name text not null default '',
    campaign_attempts integer not null default 0,
    attempt_day date,
    day_attempts integer not null default 0,
    last_outcome text,
    last_called_at timestamp,
    declined_at timestamp,
    subscribed_campaign text,
    callback_at timestamp,
    callback_agent text,
    returns_at timestamp
);

-- The claims (sql/lead_claim_functions.sql) walk the due customers in (returns_at,
-- customer_id) order, a page at a time.
create index if not exists contact_state_returns on contact_state (returns_at, customer_id);
