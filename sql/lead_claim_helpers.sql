-- lead_claim_helpers: the steps of the claims of sql/lead_claim_functions.sql (whose header
-- tells how they hand leads out), called only from those functions: local and UTC times
-- of a time zone, the user and the rules in force, the time zones inside calling hours,
-- when a hold of the policy ends, and the two ways to a lead, returning or pooled.
-- The contact policy (sql/contact_policy.sql) is put in by init-db where the WHERE
-- clauses name it, each :name as the variable v_name: the helpers that evaluate it take
-- those variables as parameters of the same names. Not SECURITY DEFINER: they run with
-- the rights of the function calling them. Applied by init-db as one script, before
-- sql/lead_claim_functions.sql; safe to run again.

-- Helpers of earlier versions.
drop function if exists lead_claim_open_zones(timestamp, contact_policy_settings);
drop function if exists lead_claim_campaign(date);
drop function if exists lead_claim_take_pooled(text, timestamp, contact_policy_settings, date, text, text[], text[],
                                               timestamp[], timestamp, integer);

-- Local wall-clock time of naive UTC p_at in zone p_zone, and back. AT TIME ZONE reads a
-- name that is also an abbreviation (CET, EET, WET, MET) as a fixed offset without
-- daylight saving, while Python's zoneinfo (the SQLite side) reads the zone of that name;
-- the TimeZone setting always reads a zone, so names without a '/' go through it
-- (lead_claim_zone_setting, whose SET clause puts the session's setting back on return).
-- The two are SQL functions the planner inlines: a usual name costs no call.
create or replace function lead_claim_zone_setting(p_at timestamp, p_zone text, p_to_local boolean)
returns timestamp
language plpgsql
stable
set timezone = 'UTC'
as $$
begin
    perform set_config('timezone', p_zone, true);
    if p_to_local then
        return (p_at at time zone 'UTC')::timestamp;
    end if;
    return p_at::timestamptz at time zone 'UTC';
end;
$$;

create or replace function lead_claim_local_time(p_at timestamp, p_zone text)
returns timestamp
language sql
stable
as $$
    select case
        when strpos(p_zone, '/') > 0 then (p_at at time zone 'UTC') at time zone p_zone
        else lead_claim_zone_setting(p_at, p_zone, true)
    end
$$;

create or replace function lead_claim_utc_time(p_local timestamp, p_zone text)
returns timestamp
language sql
stable
as $$
    select case
        when strpos(p_zone, '/') > 0 then (p_local at time zone p_zone) at time zone 'UTC'
        else lead_claim_zone_setting(p_local, p_zone, false)
    end
$$;

-- The active user's role, or BSA01 (claims_sqlite.require_user).
create or replace function lead_claim_user(p_agent text)
returns text
language plpgsql
stable
as $$
declare
    v_role text;
begin
    select u.role into v_role from users as u where u.user_name = p_agent and u.is_active;
    if v_role is null or v_role not in ('agent', 'team_lead', 'admin') then
        raise exception using errcode = 'BSA01', message = format(
            'no active agent ''%s'': add one with `bank-scoring users add %s --role agent`', p_agent, p_agent);
    end if;
    return v_role;
end;
$$;

-- The contact rules in force (policy.load_rules).
create or replace function lead_claim_rules()
returns contact_policy_settings
language plpgsql
stable
as $$
declare
    v_rules contact_policy_settings;
begin
    select * into v_rules from contact_policy_settings where policy_id = 1;
    if not found then
        raise exception 'no contact policy in this database: run `bank-scoring init-db`';
    end if;
    return v_rules;
end;
$$;

-- The valid customer time zones, and the centre's, inside calling hours at p_now
-- (policy.open_zones), and the others with when their calling hours start next. A zone
-- PostgreSQL does not know is in neither list (never open): the query stops at the first
-- such zone, and only then are the zones tried one by one.
create or replace function lead_claim_zones(
    p_now timestamp, p_rules contact_policy_settings,
    out open_zones text[], out closed_zones text[], out opens_at timestamp[]
)
language plpgsql
stable
as $$
declare
    v_zone text;
    v_local timestamp;
    v_minute integer;
begin
    begin
        select coalesce(array_agg(z.zone order by z.zone) filter (where z.is_open), '{}'),
               coalesce(array_agg(z.zone order by z.zone) filter (where not z.is_open), '{}'),
               coalesce(array_agg(z.opens order by z.zone) filter (where not z.is_open), '{}')
        into open_zones, closed_zones, opens_at
        from (
            select t.zone,
                   m.minute >= p_rules.window_start_minute and m.minute < p_rules.window_end_minute as is_open,
                   lead_claim_utc_time(
                       l.local_time::date + (m.minute >= p_rules.window_start_minute)::integer
                       + make_interval(mins => p_rules.window_start_minute), t.zone) as opens
            from (
                select time_zone as zone from customer_time_zones where is_valid
                union
                select p_rules.centre_time_zone
            ) as t
            cross join lateral (select lead_claim_local_time(p_now, t.zone) as local_time) as l
            cross join lateral (
                select (extract(hour from l.local_time) * 60 + extract(minute from l.local_time))::integer as minute
            ) as m
        ) as z;
        return;
    exception when invalid_parameter_value then
        open_zones := '{}';
        closed_zones := '{}';
        opens_at := '{}';
    end;
    for v_zone in
        select time_zone from customer_time_zones where is_valid
        union
        select p_rules.centre_time_zone
        order by 1
    loop
        begin
            v_local := lead_claim_local_time(p_now, v_zone);
        exception when invalid_parameter_value then
            continue;
        end;
        v_minute := extract(hour from v_local) * 60 + extract(minute from v_local);
        if v_minute >= p_rules.window_start_minute and v_minute < p_rules.window_end_minute then
            open_zones := open_zones || v_zone;
        else
            closed_zones := closed_zones || v_zone;
            opens_at := opens_at || lead_claim_utc_time(
                v_local::date + (v_minute >= p_rules.window_start_minute)::integer
                + make_interval(mins => p_rules.window_start_minute), v_zone);
        end if;
    end loop;
end;
$$;

-- When the hold p_held_by (a reason of the policy) ends, or null when not before the next
-- night: a do-not-call, an objection, a subscription, a used-up campaign, a decline.
create or replace function lead_claim_resume(
    p_held_by text, p_last_called_at timestamp, p_callback_at timestamp, p_zone text,
    p_no_answer_hours double precision, p_next_opening timestamp, p_closed_zones text[], p_opens_at timestamp[]
)
returns timestamp
language sql
immutable
as $$
    select case p_held_by
        when 'no_answer' then p_last_called_at + p_no_answer_hours * interval '1 hour'
        when 'callback_later' then p_callback_at
        when 'daily_attempts' then p_next_opening
        when 'calling_hours' then coalesce(p_opens_at[array_position(p_closed_zones, p_zone)], p_next_opening)
    end
$$;

-- Both take helpers run without bitmap scans: the policy's 'claimed' test builds a hash of
-- the open claims, and a plain index scan marks the entries of closed claims dead as it
-- passes them (a bitmap scan never does), so that stays cheap however many claims the day
-- has closed.

-- The leads whose returns_at has come, each looked at once: a due callback the agent may
-- take is a candidate (the agent's own first, then others' past their grace, by rank); any
-- other callable lead goes back into the pool at its rank in tonight's night (an
-- exploration lead at the place in the list it was drawn into; its returns_at cleared, its due time kept as the pool row's available_at), where it
-- competes by rank as the reference's returning leads do; a held one is set aside until
-- its hold ends. Rows another session holds are skipped.
-- Returns the best candidate, its contact_state row locked, or no row; lapsed_claim is a
-- claim on that customer whose lease ran out, locked, for the caller to close.
create or replace function lead_claim_take_returning(
    v_agent text, v_now timestamp, p_rules contact_policy_settings, v_today date, v_campaign text,
    v_open_zones text[], p_closed_zones text[], p_opens_at timestamp[], p_next_opening timestamp,
    p_run integer, p_score_date date
)
returns table (
    customer_id bigint, run_id integer, score_date date, rank integer, band text,
    propensity double precision, is_callback boolean, lapsed_claim bigint
)
language plpgsql
set enable_bitmapscan = off
as $$
#variable_conflict use_column
declare
    -- The policy expression's other variables.
    v_declined_since timestamp := v_now - make_interval(days => p_rules.declined_days);
    v_no_answer_since timestamp := v_now - p_rules.no_answer_hours * interval '1 hour';
    v_grace_since timestamp := v_now - make_interval(mins => p_rules.callback_grace_minutes);
    v_max_day_attempts integer := p_rules.max_day_attempts;
    v_max_campaign_attempts integer := p_rules.max_campaign_attempts;
    v_centre_time_zone text := p_rules.centre_time_zone;
    v_row record;
    v_best record;
    v_has_best boolean := false;
    v_page integer;
    v_after_at timestamp := '-infinity';
    v_after_id bigint := -9223372036854775808;
    v_back bigint[] := '{}';
    v_back_at timestamp[] := '{}';
    v_later bigint[] := '{}';
    v_later_at timestamp[] := '{}';
    v_lapsed bigint;
begin
    loop
        v_page := 0;
        for v_row in
            select s.customer_id, s.returns_at, s.last_called_at, s.callback_at,
                   sc.run_id, sc.score_date, coalesce(xa.pool_rank, sc.rank) as rank, sc.band, sc.propensity,
                   case when s.callback_agent = v_agent then 0 else 1 end as priority,
                   coalesce(c.time_zone, v_centre_time_zone) as zone,
                   ({{contact_policy}}) as held_by,
                   exists (select 1 from lead_assignments as la where la.run_id = p_run
                           and la.customer_id = s.customer_id and la.role = 'control') as is_control
            from (
                select d.* from contact_state as d
                where d.returns_at <= v_now and (d.returns_at, d.customer_id) > (v_after_at, v_after_id)
                order by d.returns_at, d.customer_id
                limit 200
                for update skip locked
            ) as s
            inner join customers as c on s.customer_id = c.customer_id
            left join customer_scores as sc
                on sc.customer_id = s.customer_id and sc.score_date = p_score_date and sc.run_id = p_run
            -- An exploration lead keeps the place in the list it was drawn into.
            left join lead_assignments as xa
                on xa.run_id = p_run and xa.customer_id = s.customer_id and xa.role = 'exploration'
            order by s.returns_at, s.customer_id
        loop
            v_page := v_page + 1;
            v_after_at := v_row.returns_at;
            v_after_id := v_row.customer_id;
            if v_row.rank is null or v_row.is_control then
                continue;  -- not in tonight's night (it waits for one that has it), or control: never
            elsif v_row.held_by is null and v_row.callback_at is not null then
                if not v_has_best then
                    v_best := v_row;
                    v_has_best := true;
                elsif (v_row.priority, v_row.rank) < (v_best.priority, v_best.rank) then
                    v_best := v_row;
                end if;
            elsif v_row.held_by is null then
                v_back := v_back || v_row.customer_id;
                v_back_at := v_back_at || v_row.returns_at;
            elsif v_row.held_by not in ('claimed', 'callback_for_agent') then
                v_later := v_later || v_row.customer_id;
                v_later_at := v_later_at || lead_claim_resume(
                    v_row.held_by, v_row.last_called_at, v_row.callback_at, v_row.zone, p_rules.no_answer_hours,
                    p_next_opening, p_closed_zones, p_opens_at);
            end if;
        end loop;
        exit when v_page < 200;
    end loop;

    if cardinality(v_back) > 0 then
        update contact_state set returns_at = null where customer_id = any(v_back);
        insert into lead_pool (run_id, score_date, rank, customer_id, band, propensity, available_at)
        select sc.run_id, sc.score_date, coalesce(xa.pool_rank, sc.rank), sc.customer_id, sc.band, sc.propensity,
               u.due
        from unnest(v_back, v_back_at) as u (customer_id, due)
        inner join customer_scores as sc
            on sc.customer_id = u.customer_id and sc.score_date = p_score_date and sc.run_id = p_run
        left join lead_assignments as xa
            on xa.run_id = p_run and xa.customer_id = u.customer_id and xa.role = 'exploration'
        on conflict (run_id, rank) do nothing;
    end if;
    if cardinality(v_later) > 0 then
        update contact_state as s set returns_at = u.resume
        from unnest(v_later, v_later_at) as u (customer_id, resume)
        where s.customer_id = u.customer_id;
    end if;

    if not v_has_best then
        return;
    end if;
    -- A lease on the customer that ran out is closed by the caller, unless its agent is
    -- recording from it right now: then the callback waits for the next call.
    select k.claim_id into v_lapsed
    from lead_claims as k
    where k.customer_id = v_best.customer_id and k.status = 'open';
    if v_lapsed is not null then
        perform 1 from lead_claims as k where k.claim_id = v_lapsed and k.status = 'open' for update skip locked;
        if not found then
            return;
        end if;
    end if;
    return query select v_best.customer_id, v_best.run_id, v_best.score_date, v_best.rank, v_best.band,
                        v_best.propensity, true, v_lapsed;
end;
$$;

-- The best lead of the pool the agent may call, its row locked, or no row. The pool holds
-- one night, so its key's order is rank order; a lead waiting in contact_state to return
-- is taken through it alone. Held leads passed on the way leave the pool: to
-- contact_state until their calling hours start, or for the night.
create or replace function lead_claim_take_pooled(
    v_agent text, v_now timestamp, p_rules contact_policy_settings, v_today date, v_campaign text,
    v_open_zones text[], p_closed_zones text[], p_opens_at timestamp[], p_next_opening timestamp
)
returns table (
    customer_id bigint, run_id integer, score_date date, rank integer, band text,
    propensity double precision, is_callback boolean, lapsed_claim bigint
)
language plpgsql
set enable_bitmapscan = off
as $$
#variable_conflict use_column
declare
    -- The policy expression's other variables.
    v_declined_since timestamp := v_now - make_interval(days => p_rules.declined_days);
    v_no_answer_since timestamp := v_now - p_rules.no_answer_hours * interval '1 hour';
    v_grace_since timestamp := v_now - make_interval(mins => p_rules.callback_grace_minutes);
    v_max_day_attempts integer := p_rules.max_day_attempts;
    v_max_campaign_attempts integer := p_rules.max_campaign_attempts;
    v_centre_time_zone text := p_rules.centre_time_zone;
    v_row record;
    v_page integer;
    v_after_run integer := -2147483648;
    v_after_rank integer := -2147483648;
    v_end boolean := false;
    v_callable bigint[];
    v_park bigint[];
    v_park_at timestamp[];
    v_drop bigint[];
    v_resume timestamp;
    v_skip bigint[] := '{}';
begin
    while not v_end loop
        v_page := 0;
        v_callable := '{}';
        v_park := '{}';
        v_park_at := '{}';
        v_drop := '{}';
        for v_row in
            select p.customer_id, p.run_id, p.rank, p.available_at, s.returns_at, s.last_called_at, s.callback_at,
                   coalesce(c.time_zone, v_centre_time_zone) as zone,
                   ({{contact_policy}}) as held_by
            from (
                select q.customer_id, q.run_id, q.rank, q.available_at from lead_pool as q
                where (q.run_id, q.rank) > (v_after_run, v_after_rank)
                order by q.run_id, q.rank
                limit 16
            ) as p
            inner join customers as c on p.customer_id = c.customer_id
            left join contact_state as s on p.customer_id = s.customer_id
            order by p.run_id, p.rank
        loop
            v_page := v_page + 1;
            v_after_run := v_row.run_id;
            v_after_rank := v_row.rank;
            if v_row.available_at > v_now or v_row.returns_at is not null
                or v_row.held_by in ('claimed', 'callback_for_agent') then
                continue;  -- not yet at this clock, the returning side's, or someone's for now
            elsif v_row.held_by is null then
                v_callable := v_callable || v_row.customer_id;
            else
                v_resume := lead_claim_resume(
                    v_row.held_by, v_row.last_called_at, v_row.callback_at, v_row.zone, p_rules.no_answer_hours,
                    p_next_opening, p_closed_zones, p_opens_at);
                if v_resume is null or v_resume >= p_next_opening then
                    v_drop := v_drop || v_row.customer_id;
                else
                    v_park := v_park || v_row.customer_id;
                    v_park_at := v_park_at || v_resume;
                end if;
            end if;
        end loop;
        v_end := v_page < 16;

        -- Held leads leave the pool; rows another session holds are left to it.
        if cardinality(v_drop) > 0 then
            delete from lead_pool
            where ctid = any(array(
                select x.ctid from lead_pool as x where x.customer_id = any(v_drop) for update skip locked));
        end if;
        if cardinality(v_park) > 0 then
            with moved as (
                delete from lead_pool
                where ctid = any(array(
                    select x.ctid from lead_pool as x where x.customer_id = any(v_park) for update skip locked))
                returning customer_id
            )
            insert into contact_state as s (customer_id, returns_at)
            select m.customer_id, u.resume
            from moved as m inner join unnest(v_park, v_park_at) as u (customer_id, resume)
                on u.customer_id = m.customer_id
            on conflict (customer_id) do update set returns_at = excluded.returns_at;
        end if;

        -- The first callable lead no other session holds. An open claim on it is one whose
        -- lease ran out (the caller closes it), or one taken since the page was read; a
        -- lead called since then waits in contact_state; and a lead taken, given back and
        -- returned to the pool since then is a new row, not yet available at a clock behind
        -- its return.
        while cardinality(v_callable) > 0 loop
            select p.customer_id, p.run_id, p.score_date, p.rank, p.band, p.propensity, k.claim_id as lapsed_claim,
                   k.expires_at > v_now as held
            into v_row
            from lead_pool as p
            left join contact_state as s on s.customer_id = p.customer_id
            left join lead_claims as k on k.customer_id = p.customer_id and k.status = 'open'
            where p.customer_id = any(v_callable) and p.customer_id <> all(v_skip)
              and (p.available_at is null or p.available_at <= v_now) and s.returns_at is null
              and not exists (select 1 from lead_assignments as la where la.run_id = p.run_id
                              and la.customer_id = p.customer_id and la.role = 'control')
            order by p.run_id, p.rank
            limit 1
            for update of p skip locked;
            exit when not found;
            if v_row.held then
                v_skip := v_skip || v_row.customer_id;
                continue;
            end if;
            if v_row.lapsed_claim is not null then
                perform 1 from lead_claims as k where k.claim_id = v_row.lapsed_claim and k.status = 'open'
                for update skip locked;
                if not found then
                    v_skip := v_skip || v_row.customer_id;
                    continue;
                end if;
            end if;
            return query select v_row.customer_id, v_row.run_id, v_row.score_date, v_row.rank, v_row.band,
                                v_row.propensity, false, v_row.lapsed_claim;
            return;
        end loop;
    end loop;
end;
$$;

revoke all on function lead_claim_zone_setting(timestamp, text, boolean) from public;
revoke all on function lead_claim_local_time(timestamp, text) from public;
revoke all on function lead_claim_utc_time(timestamp, text) from public;
revoke all on function lead_claim_user(text) from public;
revoke all on function lead_claim_rules() from public;
revoke all on function lead_claim_zones(timestamp, contact_policy_settings) from public;
revoke all on function lead_claim_resume(text, timestamp, timestamp, text, double precision, timestamp, text[],
                                         timestamp[]) from public;
revoke all on function lead_claim_take_returning(text, timestamp, contact_policy_settings, date, text, text[], text[],
                                                 timestamp[], timestamp, integer, date) from public;
revoke all on function lead_claim_take_pooled(text, timestamp, contact_policy_settings, date, text, text[], text[],
                                              timestamp[], timestamp) from public;
