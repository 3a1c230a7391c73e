-- roles: one group role per kind of user and what each may do (PostgreSQL only).
-- Log-in users get one of these roles: create user alice login password '...' in role bank_scoring_agent;
--   bank_scoring_pipeline  the Airflow tasks and the CLI: load data, train, score, publish.
--   bank_scoring_agent     call-centre agents: read agent_worklist, record call outcomes, nothing else.
--   bank_scoring_analyst   read-only access to every table and view.
-- Applied by `bank-scoring init-db --roles` as the schema owner; safe to run again.
-- The whole file runs as one script (it has a DO block), not statement by statement.
do $$
begin
    if not exists (select from pg_roles where rolname = 'bank_scoring_pipeline') then
        create role bank_scoring_pipeline nologin;
    end if;
    if not exists (select from pg_roles where rolname = 'bank_scoring_agent') then
        create role bank_scoring_agent nologin;
    end if;
    if not exists (select from pg_roles where rolname = 'bank_scoring_analyst') then
        create role bank_scoring_analyst nologin;
    end if;
end
$$;

revoke all on all tables in schema public from bank_scoring_pipeline, bank_scoring_agent, bank_scoring_analyst;
revoke all on all sequences in schema public from bank_scoring_pipeline, bank_scoring_agent, bank_scoring_analyst;
grant usage on schema public to bank_scoring_pipeline, bank_scoring_agent, bank_scoring_analyst;

-- pipeline: loads the bank's data, keeps the registry and writes the nightly runs.
-- model_events is append-only: insert, never update or delete.
grant select, insert on customers, campaign_contacts, load_batches to bank_scoring_pipeline;
grant select, insert, update on model_versions, scoring_runs to bank_scoring_pipeline;
grant select, insert on model_events to bank_scoring_pipeline;
grant select, insert, delete on customer_scores_staging, customer_scores, scoring_rejects, score_reasons,
    scoring_profiles, run_drift to bank_scoring_pipeline;
grant select on call_outcomes, published_leads, agent_worklist to bank_scoring_pipeline;
grant usage on all sequences in schema public to bank_scoring_pipeline;
-- Publish builds and swaps in the night's customer_scores partition through these
-- functions, which run with the schema owner's rights: the pipeline never owns (so can
-- never drop) the table.
grant execute on function prepare_customer_scores_partition(integer, date),
    index_customer_scores_partition(integer, date, text),
    publish_customer_scores(integer, date) to bank_scoring_pipeline;

-- agent: the worklist's columns only (the view runs with its owner's rights), and call outcomes.
grant select on agent_worklist to bank_scoring_agent;
grant insert on call_outcomes to bank_scoring_agent;
grant usage on all sequences in schema public to bank_scoring_agent;

-- analyst: read everything, change nothing.
grant select on all tables in schema public to bank_scoring_analyst;
