-- agent_worklist: one row per customer to call from the latest published scoring run;
-- order by rank for best leads first. A run being written is invisible here until its
-- publish commits, so agents see one complete run, the old or the new.
drop view if exists agent_worklist;

create view agent_worklist as
with latest_run as (
    select run_id
    from scoring_runs
    where status = 'published'
    order by score_date desc, published_at desc, run_id desc
    limit 1
),

final as (
    select leads.*
    from published_leads as leads
    inner join latest_run on leads.run_id = latest_run.run_id
)

select * from final;
