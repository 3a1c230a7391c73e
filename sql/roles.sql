-- roles: one group role per kind of user and what each may do (PostgreSQL only).
-- Log-in users get one of these roles: create user alice login password '...' in role bank_scoring_agent;
--   bank_scoring_pipeline  the Airflow tasks and the CLI: load data, train, score, publish.
--   bank_scoring_agent     call-centre agents: read agent_worklist, and take, record and release
--                          leads as themselves through agent_next_lead, agent_record_outcome and
--                          agent_release (sql/lead_claim_functions.sql); no table directly.
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
revoke all on all functions in schema public from bank_scoring_pipeline, bank_scoring_agent, bank_scoring_analyst;
grant usage on schema public to bank_scoring_pipeline, bank_scoring_agent, bank_scoring_analyst;

-- pipeline: loads the bank's data, keeps the registry and writes the nightly runs.
-- model_events is append-only: insert, never update or delete.
grant select, insert on customers, campaign_contacts, load_batches to bank_scoring_pipeline;
grant select, insert, update on model_versions, scoring_runs to bank_scoring_pipeline;
grant select, insert on model_events to bank_scoring_pipeline;
grant select, insert, delete on customer_scores_staging, customer_scores, scoring_rejects, score_reasons,
    scoring_profiles, run_drift to bank_scoring_pipeline;
grant select on call_outcomes, published_leads, agent_worklist to bank_scoring_pipeline;
-- The agents' side (bank_scoring/agents): users and campaigns are kept by the CLI, init-db
-- writes the contact policy, publishing refills the pool and the customers' time zones,
-- an objection flags the customer, closes their claim and takes them out of the pool.
-- Claims and call outcomes are written only through the functions below.
grant select, insert, update on users, api_tokens to bank_scoring_pipeline;
grant select on call_figures to bank_scoring_pipeline;
grant select, insert on campaigns, customer_objections to bank_scoring_pipeline;
grant select, insert, delete on contact_policy_settings, lead_pool, lead_assignments to bank_scoring_pipeline;
grant select, insert, update, delete on customer_time_zones to bank_scoring_pipeline;
grant update (is_do_not_call, has_objected, time_zone) on customers to bank_scoring_pipeline;
grant select on contact_state to bank_scoring_pipeline;
-- The loop (bank_scoring/loop): the harvest writes training rows with their harvested_calls
-- rows; the roll keeps the customers' campaign attributes current, which the trigger of
-- sql/customer_history_trigger_pg.sql records in customer_history as the updater.
grant select, insert on harvested_calls, customer_history to bank_scoring_pipeline;
grant select, insert, update on customer_campaign_state to bank_scoring_pipeline;
-- The field check (bank_scoring/loop/field.py) replaces a day's rows when rerun.
grant select, insert, delete on field_checks to bank_scoring_pipeline;
grant update (campaign, pdays, previous_contacts, previous_outcome, updated_at) on customers to bank_scoring_pipeline;
grant select, update (status, closed_at) on lead_claims to bank_scoring_pipeline;
grant usage on all sequences in schema public to bank_scoring_pipeline;
-- Publish builds and swaps in the night's customer_scores partition through these
-- functions, which run with the schema owner's rights: the pipeline never owns (so can
-- never drop) the table.
grant execute on function prepare_customer_scores_partition(integer, date),
    index_customer_scores_partition(integer, date, text),
    publish_customer_scores(integer, date), clear_customer_scores_staging(), lead_pool_empty(), lead_pool_index() to bank_scoring_pipeline;
grant execute on function claim_next_lead(text, timestamp),
    record_call_outcome(text, bigint, text, timestamp, timestamp, text),
    release_lead(text, bigint, timestamp) to bank_scoring_pipeline;

-- agent: the worklist's columns only (the view runs with its owner's rights), and leads as
-- themselves: the functions take the agent from session_user and the time from the server.
grant select on agent_worklist to bank_scoring_agent;
grant execute on function agent_next_lead(), agent_record_outcome(bigint, text, timestamp, text),
    agent_release(bigint) to bank_scoring_agent;

-- analyst: read everything, change nothing.
grant select on all tables in schema public to bank_scoring_analyst;
