-- publish_customer_scores: PostgreSQL's publish of a complete scoring run (called by
-- bank_scoring.score.publish_run inside its transaction; SQLite, and a customer_scores
-- created before it was partitioned, take the plain insert instead).
--
-- customer_scores is partitioned by score_date, one partition per night. Inserting ten
-- million ranked rows into one big table's primary-key index, in rank order, is random
-- I/O (129 s for 10M rows here). Instead the night's rows are ranked into a fresh table
-- with no index, the two indexes are built once, sorted, and the table is attached as
-- the date's partition, replacing an earlier one. Readers see the old scores until the
-- publish commits, then the new ones (a repeatable-read transaction begun before the
-- commit sees the night as empty: partition swaps are DDL, not MVCC).
--
-- SECURITY DEFINER: it runs with the rights of the schema owner who ran init-db, so the
-- pipeline role needs only EXECUTE (sql/roles.sql), never ownership of customer_scores.
-- The run must be a running run of that date, and the rows come only from its staging.
-- Applied by init-db as one script (the body holds semicolons); safe to run again.
create or replace function publish_customer_scores(p_run_id integer, p_score_date date, p_model_version integer,
                                                   p_band_a bigint, p_band_b bigint, p_band_c bigint)
returns bigint
language plpgsql
security definer
set search_path = public, pg_temp
set work_mem = '1GB'
set maintenance_work_mem = '1GB'
as $$
declare
    day text := to_char(p_score_date, 'YYYYMMDD');
    fresh text := format('customer_scores_%s_run%s', day, p_run_id);
    bound text := format('FOR VALUES FROM (%L) TO (%L)', p_score_date, p_score_date + 1);
    earlier text;
    inserted bigint;
begin
    if not exists (select 1 from scoring_runs
                   where run_id = p_run_id and score_date = p_score_date and status = 'running') then
        raise exception 'scoring run % is not a running run for %', p_run_id, p_score_date;
    end if;
    execute format('drop table if exists %I', fresh);
    execute format('create table %I (like customer_scores including defaults including constraints)', fresh);
    -- Lets ATTACH skip its scan: every row already satisfies the partition bound.
    execute format('alter table %I add constraint %I check (score_date = %L)', fresh, fresh || '_day', p_score_date);
    execute format(
        'insert into %I (score_date, customer_id, run_id, model_version, propensity, rank, band) '
        'select $1, customer_id, $2, $3, propensity, rnk, '
        'case when rnk <= $4 then ''A'' when rnk <= $5 then ''B'' when rnk <= $6 then ''C'' else ''D'' end '
        'from (select customer_id, propensity, '
        'row_number() over (order by propensity desc, customer_id) as rnk '
        'from customer_scores_staging where run_id = $2) as ranked', fresh)
        using p_score_date, p_run_id, p_model_version, p_band_a, p_band_b, p_band_c;
    get diagnostics inserted = row_count;
    execute format('alter table %I add constraint %I primary key (score_date, customer_id)', fresh, fresh || '_pkey');
    execute format('create index %I on %I (run_id, rank)', fresh || '_run_rank', fresh);
    -- The staging rows are no longer needed: emptied here, before the swap's lock.
    lock table customer_scores_staging in access exclusive mode;
    if exists (select 1 from customer_scores_staging where run_id <> p_run_id) then
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

revoke all on function publish_customer_scores(integer, date, integer, bigint, bigint, bigint) from public;
