-- The night's refill of lead_pool on PostgreSQL (bank_scoring/agents/pool.py), in the
-- refill's transaction: lead_pool_empty() before the insert of the night's eligible
-- leads, lead_pool_index() after it. A night writes every eligible customer (a million
-- rows for a million customers): into an indexed table that took 16 s, most of it
-- spent keeping the customer index, whose order is random; into a bare table and indexed
-- after, about 3 s. TRUNCATE holds the table until the refill commits, so a claim made
-- meanwhile waits for the new pool instead of finding the old one's rows all locked by the
-- refill's delete. Both run with the schema owner's rights: the pipeline may fill the
-- pool but never owns (so can never drop) the table.

create or replace function lead_pool_empty()
returns void
language plpgsql
security definer
set search_path = public, pg_temp
as $$
begin
    truncate lead_pool;
    alter table lead_pool drop constraint if exists lead_pool_pkey;
    drop index if exists lead_pool_customer;
end;
$$;

create or replace function lead_pool_index()
returns void
language plpgsql
security definer
set search_path = public, pg_temp
set maintenance_work_mem = '256MB'
as $$
begin
    alter table lead_pool add constraint lead_pool_pkey primary key (run_id, rank);
    create index lead_pool_customer on lead_pool (customer_id);
    -- Fresh statistics for the control group's deletes and the claims that follow.
    analyze lead_pool;
end;
$$;

revoke all on function lead_pool_empty() from public;
revoke all on function lead_pool_index() from public;
