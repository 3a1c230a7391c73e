-- call_figures: one row per UTC day, band and agent of recorded calls: calls, contacts
-- (the customer was reached: anything but no_answer), subscriptions, and the expected
-- subscriptions, the sum of the propensities the called leads were handed out with (each
-- customer once a day per band and agent). Expected beside actual is the field check of
-- the model's calibration. `bank-scoring agent figures` gives the same in the centre's day.
drop view if exists call_figures;

create view call_figures as
with calls as (
    select
        date(called_at) as call_day,
        coalesce(band, '-') as band,
        agent_id,
        customer_id,
        outcome,
        propensity
    from call_outcomes
),

per_customer as (
    select
        call_day,
        band,
        agent_id,
        customer_id,
        count(*) as calls,
        sum(case when outcome <> 'no_answer' then 1 else 0 end) as contacts,
        max(case when outcome = 'subscribed' then 1 else 0 end) as subscribed,
        max(propensity) as propensity
    from calls
    group by call_day, band, agent_id, customer_id
),

final as (
    select
        call_day,
        band,
        agent_id,
        sum(calls) as calls,
        sum(contacts) as contacts,
        sum(subscribed) as subscriptions,
        sum(coalesce(propensity, 0)) as expected_subscriptions
    from per_customer
    group by call_day, band, agent_id
)

select * from final;
