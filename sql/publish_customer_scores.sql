-- publish_customer_scores and its three preparation steps: PostgreSQL's publish of a
-- complete scoring run (called by bank_scoring.score.publish_run; SQLite, and a
-- customer_scores created before it was partitioned, take a plain insert instead).
--
-- customer_scores is partitioned by score_date, one partition per night. Inserting ten
-- million ranked rows into one big table's primary-key index, in rank order, is random
-- I/O (129 s for 10M rows here). Instead the night's rows are ranked into a fresh table
-- with no index, its two indexes are built once, sorted, and the table is attached as the
-- date's partition, replacing an earlier one. Readers see the old scores until the publish
-- commits, then the new ones (a repeatable-read transaction begun before the commit sees
-- the night as empty: partition swaps are DDL, not MVCC).
--
-- The fresh table is invisible to readers until it is attached, so it is built before the
-- publishing transaction, in committed steps (publish_run does):
--   1. prepare_customer_scores_partition   creates the empty table, lets the calling login
--                                          role insert into it, and drops tables left by
--                                          runs that never published;
--   2. the rows: publish_run reads the staging in rank order and writes the ranked rows
--                with binary COPY, which logs a page at a time (10M rows: about 1M rows/s),
--                in the transaction that ran step 1, so COPY FREEZE writes them frozen and
--                all-visible (a later vacuum of a 10M night would rewrite its 651 MB and
--                log 692 MB of WAL to get there);
--                fill_customer_scores_partition does it in SQL instead (INSERT ... SELECT
--                logs every row: 36 s for 10M rows here);
--   3. index_customer_scores_partition     'key' and 'rank', one session each, at once;
--   4. publish_customer_scores             checks the table holds the whole run, makes the
--                                          key the primary key, takes back the insert right,
--                                          empties the staging, swaps.
-- Called alone, publish_customer_scores does steps 1 to 3 itself in its own transaction.
--
-- SECURITY DEFINER: they run with the rights of the schema owner who ran init-db, so the
-- pipeline role needs only EXECUTE (sql/roles.sql), never ownership of customer_scores or
-- of the fresh table (it may insert into it between steps 1 and 4, as it may insert into
-- customer_scores). The run must be a running run of that date; the table must hold as
-- many rows as its staging, and its key refuses a customer twice. Applied by init-db as
-- one script (the bodies hold semicolons); safe to run again.

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
    -- The pipeline's login role fills it with COPY; publish takes the right back.
    if session_user <> current_user then
        execute format('grant insert on %I to %I', fresh, session_user);
    end if;
    return fresh;
end;
$$;

create or replace function fill_customer_scores_partition(p_run_id integer, p_score_date date, p_model_version integer,
                                                          p_band_a bigint, p_band_b bigint, p_band_c bigint,
                                                          p_part integer, p_parts integer)
returns bigint
language plpgsql
security definer
set search_path = public, pg_temp
set work_mem = '1GB'
as $$
declare
    fresh text := customer_scores_fresh_table(p_run_id, p_score_date);
    inserted bigint;
begin
    if p_parts < 1 or p_part < 0 or p_part >= p_parts then
        raise exception 'part % of % does not exist', p_part, p_parts;
    end if;
    -- Each part ranks the whole run (a sort of 10M rows takes 1.4 s) and inserts the ranks
    -- congruent to it, so parts can run in several sessions and each page still holds
    -- neighbouring ranks: the rank index is then built from nearly sorted rows.
    execute format(
        'insert into %I (score_date, customer_id, run_id, model_version, propensity, rank, band) '
        'select $1, customer_id, $2, $3, propensity, rnk, '
        'case when rnk <= $4 then ''A'' when rnk <= $5 then ''B'' when rnk <= $6 then ''C'' else ''D'' end '
        'from (select customer_id, propensity, '
        'row_number() over (order by propensity desc, customer_id) as rnk '
        'from customer_scores_staging where run_id = $2) as ranked where rnk %% $7 = $8', fresh)
        using p_score_date, p_run_id, p_model_version, p_band_a, p_band_b, p_band_c, p_parts, p_part;
    get diagnostics inserted = row_count;
    return inserted;
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
    -- A night's rows are never updated once published: its index pages are packed full
    -- (fillfactor 100, not the default 90), a tenth fewer pages to write and to read.
    if p_index = 'key' then
        -- The same columns, in the same order, as customer_scores' primary key, so ATTACH
        -- takes this index as the partition's. init-db puts customer_id first: sorting
        -- 10M keys that start with the same date takes 20 s, with the customer 9 s.
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
    else
        raise exception 'unknown index %; choose key or rank', p_index;
    end if;
end;
$$;

create or replace function publish_customer_scores(p_run_id integer, p_score_date date, p_model_version integer,
                                                   p_band_a bigint, p_band_b bigint, p_band_c bigint)
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
    if to_regclass(fresh) is null then  -- not prepared: steps 1 to 3 here, in this transaction
        perform prepare_customer_scores_partition(p_run_id, p_score_date);
        perform fill_customer_scores_partition(p_run_id, p_score_date, p_model_version,
                                               p_band_a, p_band_b, p_band_c, 0, 1);
    end if;
    perform index_customer_scores_partition(p_run_id, p_score_date, 'key');
    perform index_customer_scores_partition(p_run_id, p_score_date, 'rank');
    -- The table must hold the whole run, once: the key index refuses a customer twice,
    -- and the counts must match (a fill that did not run refuses the publish). publish_run
    -- records the run's staged count after checking it against the customers; called
    -- alone, the staging is counted here (a scan of every staged row: 0.4 s at 10M).
    execute format('select count(*) from %I', fresh) into inserted;
    select customers_scored into staged from scoring_runs where run_id = p_run_id;
    if staged is null then
        select count(*) into staged from customer_scores_staging where run_id = p_run_id;
    end if;
    if inserted <> staged then
        raise exception 'the table prepared for run % holds % rows, its staging % (a fill did not run?)',
            p_run_id, inserted, staged;
    end if;
    execute format('alter table %I add constraint %I primary key using index %I', fresh, fresh || '_pkey',
                   fresh || '_key');
    if session_user <> current_user then
        execute format('revoke all on %I from %I', fresh, session_user);
    end if;
    -- The staging rows are no longer needed: emptied here, before the swap's lock. Only a
    -- run still running can have rows worth keeping there (a failed run's are garbage);
    -- one that starts after the lock writes its rows after this commit.
    lock table customer_scores_staging in access exclusive mode;
    if exists (select 1 from scoring_runs where status = 'running' and run_id <> p_run_id) then
        delete from customer_scores_staging where run_id = p_run_id;  -- another night is running
    else
        truncate customer_scores_staging;
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

revoke all on function customer_scores_fresh_table(integer, date) from public;
revoke all on function prepare_customer_scores_partition(integer, date) from public;
revoke all on function fill_customer_scores_partition(integer, date, integer, bigint, bigint, bigint, integer, integer)
    from public;
revoke all on function index_customer_scores_partition(integer, date, text) from public;
revoke all on function publish_customer_scores(integer, date, integer, bigint, bigint, bigint) from public;
