-- published_leads: one row per callable customer per published score date, with what an
-- agent needs to make the call. Leaves out do-not-call customers, customers whose call
-- from that date's list is already recorded in call_outcomes, and the run's control group
-- (lead_assignments, written in the transaction that publishes the run: never to be
-- called, so never listed). Ranks keep the run's order, with gaps where a customer is left out.
drop view if exists agent_worklist;

drop view if exists published_leads;

create view published_leads as
with final as (
    select
        s.score_date,
        s.run_id,
        s.rank,
        s.customer_id,
        s.propensity,
        s.band,
        s.model_version,
        c.age,
        c.job,
        c.marital,
        c.education,
        c.balance,
        c.has_housing_loan,
        c.has_personal_loan,
        c.contact_channel,
        c.previous_contacts,
        c.previous_outcome,
        c.pdays as days_since_previous_contact,
        r.reason_1,
        r.reason_2,
        r.reason_3
    from customer_scores as s
    inner join customers as c on s.customer_id = c.customer_id
    left join score_reasons as r on s.run_id = r.run_id and s.customer_id = r.customer_id
    where
        not c.is_do_not_call
        and not exists (
            select 1
            from call_outcomes as o
            where o.customer_id = s.customer_id and o.score_date = s.score_date
        )
        and not exists (
            select 1
            from lead_assignments as la
            where la.run_id = s.run_id and la.customer_id = s.customer_id and la.role = 'control'
        )
)

select * from final;
