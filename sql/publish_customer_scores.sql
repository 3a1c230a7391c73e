-- The SQL half of PostgreSQL's publish (bank_scoring/scoring/postgres.py is the other):
-- tonight's scores go into a fresh table, which is indexed and then attached as the
-- score date's partition of customer_scores, replacing an earlier one. Readers see the
-- old night until the publishing transaction commits.
--   prepare_customer_scores_partition  creates the empty table and lets the calling role
--                                      fill it; drops tables of runs that never published
--   index_customer_scores_partition    builds the 'key' or the 'rank' index
--   publish_customer_scores            checks the table holds the whole run, makes the key
--                                      the primary key, swaps
--   clear_customer_scores_staging      empties the staging of runs no longer running, in
--                                      its own transaction after the swap commits
-- SECURITY DEFINER: they run with the rights of the schema owner who ran init-db, so the
-- pipeline role needs only EXECUTE (sql/roles.sql), never ownership of customer_scores.
-- prepare commits on its own: its `like customer_scores` takes a share lock on
-- customer_scores that a fill's transaction would otherwise hold for minutes, and another
-- night's swap (and, queued behind it, every reader) would wait for that fill.
-- Applied by init-db as one script (the bodies hold semicolons); safe to run again.

-- Signatures of earlier releases.
drop function if exists fill_customer_scores_partition(integer, date, integer, bigint, bigint, bigint, integer,
                                                       integer);
drop function if exists publish_customer_scores(integer, date, integer, bigint, bigint, bigint);

create or replace function customer_scores_fresh_table(p_run_id integer, p_score_date date)
returns text
language plpgsql
security definer
set search_path = public, pg_temp
as $$
begin
    if not exists (select 1 from scoring_runs
                   where run_id = p_run_id and score_date = p_score_date and status = 'running') then
        raise exception 'scoring run % is not a running run for %', p_run_id, p_score_date;
    end if;
    return format('customer_scores_%s_run%s', to_char(p_score_date, 'YYYYMMDD'), p_run_id);
end;
$$;

create or replace function prepare_customer_scores_partition(p_run_id integer, p_score_date date)
returns text
language plpgsql
security definer
set search_path = public, pg_temp
as $$
declare
    fresh text := customer_scores_fresh_table(p_run_id, p_score_date);
    orphan text;
begin
    -- A run that crashed or failed after step 1 left its table unattached: gone now,
    -- unless its run is still running (another night being published at the same time).
    for orphan in
        select c.relname from pg_class c
        where c.relnamespace = 'public'::regnamespace and c.relkind = 'r' and not c.relispartition
          and c.relname ~ '^customer_scores_[0-9]{8}_run[0-9]+$'
          and not exists (select 1 from scoring_runs r where r.status = 'running'
                          and r.run_id = substring(c.relname from '_run([0-9]+)$')::integer)
    loop
        execute format('drop table %I', orphan);
    end loop;
    execute format('drop table if exists %I', fresh);
    execute format('create table %I (like customer_scores including defaults including constraints)', fresh);
    -- Lets ATTACH skip its scan: every row already satisfies the partition bound.
    execute format('alter table %I add constraint %I check (score_date = %L)', fresh, fresh || '_day', p_score_date);
    -- The pipeline's login role empties it (in the transaction of its COPY FREEZE, which
    -- needs the table created or truncated there) and fills it; publish takes the rights back.
    if session_user <> current_user then
        execute format('grant insert, truncate on %I to %I', fresh, session_user);
    end if;
    return fresh;
end;
$$;

create or replace function index_customer_scores_partition(p_run_id integer, p_score_date date, p_index text)
returns void
language plpgsql
security definer
set search_path = public, pg_temp
set maintenance_work_mem = '1GB'
as $$
declare
    fresh text := customer_scores_fresh_table(p_run_id, p_score_date);
    key_columns text;
begin
    -- A night's rows are never updated once published: its index pages are packed full.
    if p_index = 'key' then
        -- The same columns, in the same order, as customer_scores' primary key, so ATTACH
        -- takes this index as the partition's.
        select string_agg(quote_ident(a.attname), ', ' order by k.n) into key_columns
        from pg_constraint c
        cross join unnest(c.conkey) with ordinality as k(attnum, n)
        join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum
        where c.conrelid = 'customer_scores'::regclass and c.contype = 'p';
        execute format('create unique index if not exists %I on %I (%s) with (fillfactor = 100)', fresh || '_key',
                       fresh, coalesce(key_columns, 'customer_id, score_date'));
    elsif p_index = 'rank' then
        execute format('create index if not exists %I on %I (run_id, rank) with (fillfactor = 100)',
                       fresh || '_run_rank', fresh);
    elsif p_index = 'statistics' then
        -- Autovacuum would analyze the night minutes later; the pool's fill and the policy's
        -- preview read it straight away, and on no statistics the planner takes a million
        -- rows for a few and probes the customers' index once per row.
        execute format('analyze %I', fresh);
    else
        raise exception 'unknown index %; choose key, rank or statistics', p_index;
    end if;
end;
$$;

create or replace function publish_customer_scores(p_run_id integer, p_score_date date)
returns bigint
language plpgsql
security definer
set search_path = public, pg_temp
as $$
declare
    fresh text := customer_scores_fresh_table(p_run_id, p_score_date);
    bound text := format('FOR VALUES FROM (%L) TO (%L)', p_score_date, p_score_date + 1);
    earlier text;
    staged bigint;
    inserted bigint;
begin
    if to_regclass(fresh) is null then
        raise exception 'run % has no prepared table %: prepare and fill it first', p_run_id, fresh;
    end if;
    -- Both indexes exist already unless a build failed; then they are built here.
    perform index_customer_scores_partition(p_run_id, p_score_date, 'key');
    perform index_customer_scores_partition(p_run_id, p_score_date, 'rank');
    -- The table must hold the whole run, once: the key index refuses a customer twice,
    -- and its count must be the staged count publish_run checked against the customers.
    execute format('select count(*) from %I', fresh) into inserted;
    select customers_scored into staged from scoring_runs where run_id = p_run_id;
    if staged is null or inserted <> staged then
        raise exception 'the table prepared for run % holds % rows, its staging % (a fill did not run?)',
            p_run_id, inserted, staged;
    end if;
    execute format('alter table %I add constraint %I primary key using index %I', fresh, fresh || '_pkey',
                   fresh || '_key');
    if session_user <> current_user then
        execute format('revoke all on %I from %I', fresh, session_user);
    end if;
    -- The swap itself. Without this lock a reader planning its query just before the commit
    -- would miss a new date's partition yet see its run as published (ATTACH alone takes a
    -- weaker lock); with it, readers wait the few milliseconds until the commit.
    lock table customer_scores in access exclusive mode;
    for earlier in
        select c.relname from pg_inherits i
        join pg_class c on c.oid = i.inhrelid
        where i.inhparent = 'customer_scores'::regclass and pg_get_expr(c.relpartbound, c.oid) = bound
    loop
        execute format('alter table customer_scores detach partition %I', earlier);
        execute format('drop table %I', earlier);
    end loop;
    execute format('alter table customer_scores attach partition %I %s', fresh, bound);
    return inserted;
end;
$$;

create or replace function clear_customer_scores_staging()
returns void
language plpgsql
security definer
set search_path = public, pg_temp
as $$
begin
    -- Never in the swap's transaction: a swap holding the staging's lock while it waits for
    -- customer_scores would wait for another night's fill (whose transaction holds a share of
    -- customer_scores) while that fill's reader waits for the staging: a deadlock through the
    -- client, which PostgreSQL cannot detect. Here the lock is the only one held.
    lock table customer_scores_staging in access exclusive mode;
    if exists (select 1 from scoring_runs where status = 'running') then
        delete from customer_scores_staging s  -- another night is running: its rows stay
        where not exists (select 1 from scoring_runs r where r.run_id = s.run_id and r.status = 'running');
    else
        truncate customer_scores_staging;
    end if;
end;
$$;

revoke all on function customer_scores_fresh_table(integer, date) from public;
revoke all on function prepare_customer_scores_partition(integer, date) from public;
revoke all on function index_customer_scores_partition(integer, date, text) from public;
revoke all on function publish_customer_scores(integer, date) from public;
revoke all on function clear_customer_scores_staging() from public;
