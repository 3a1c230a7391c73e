-- customer_campaign_state: one row per customer the call centre has called, with the
-- campaign their contact attributes (customers.campaign, pdays, previous_contacts,
-- previous_outcome) were last rolled into by bank_scoring/loop/roll.py: its name, the
-- calls made in it, what they brought ('success' a subscription, 'failure' reached and
-- declined, null neither yet), the day of the last call, and the last call counted (each
-- call is counted once, however often the roll runs).
create table if not exists customer_campaign_state (
    customer_id bigint primary key references customers (customer_id),
    campaign_name text not null,
    calls integer not null,
    outcome text,
    last_call_day date,
    last_call_id bigint not null
);
