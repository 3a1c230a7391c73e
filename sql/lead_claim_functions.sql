-- lead_claim_functions: handing leads to agents on PostgreSQL, each step one call and one
-- transaction (bank_scoring/agents/claims_postgres.py calls them; claims_sqlite.py does the
-- same steps on SQLite and is the reference both answer to, in tests/agents):
--   claim_next_lead       takes the best lead the contact policy lets the agent call: a due
--                         callback, a lead returning through contact_state.returns_at, or
--                         the night's pool, in rank order
--   record_call_outcome   records the call from the agent's claim and closes it; the same
--                         outcome again returns the stored row (duplicate)
--   release_lead          gives an open claim back: the lead returns now
--   agent_next_lead, agent_record_outcome, agent_release
--                         the same for an agent logged in to PostgreSQL as themselves: the
--                         agent is session_user and the clock the server's, so an agent can
--                         neither act for another nor choose the time (sql/roles.sql lets
--                         bank_scoring_agent execute only these)
-- Rows are taken with FOR UPDATE SKIP LOCKED, so agents never wait on each other and never
-- get the same lead; the unique index lead_claims_one_open is the last guard, and a pick
-- that loses a race to it is retried. The contact policy is sql/contact_policy.sql, put in
-- by init-db where the WHERE clauses name it, each :name as the variable v_name
-- (bank_scoring/db.py render_functions); the helpers that evaluate it take those
-- variables as parameters of the same names.
-- What a call costs does not grow with the leads taken or held back during the day:
--   * a claim sets its customer's returns_at to the lease's end, so a lapsed lease brings
--     the lead back by itself (and the claim is closed as 'expired' by whoever takes the
--     lead next, or by its agent's next claim), instead of a scan for lapsed claims;
--   * a lead the policy holds is set aside until its hold ends instead of being looked at
--     again by every claim: a returning one gets returns_at = when the hold ends (or null
--     when it lasts beyond the night: an objection, a subscription...); a pooled one moves
--     to contact_state until its calling hours start, or leaves tonight's pool when it
--     cannot be called before the centre opens again tomorrow (the next night's pool
--     brings it back);
--   * the pool is walked in its key's order and the due leads in returns_at order, a page
--     at a time, so no plan depends on statistics.
-- Refusals carry their own SQLSTATE, mapped to bank_scoring/agents/errors.py: BSA01 unknown
-- agent, BSA02 unknown customer, BSA03 bad outcome, BSA04 no claim, BSA05 claim limit,
-- BSA06 no published night. Nothing is written when one is raised.
-- SECURITY DEFINER: they run with the rights of the schema owner who ran init-db. Their
-- helpers (the lead_claim_* functions, called only from them) are in
-- sql/lead_claim_helpers.sql, applied just before. The file also sets how often the
-- tables the claims churn are vacuumed (PostgreSQL only, so not in their own files).
-- Applied by init-db as one script (the bodies hold semicolons); safe to run again.

-- The claims change these tables with every call: they are vacuumed after a few thousand
-- changes (by default after a fifth of the table: 200,000 rows of a night's pool), so the
-- index entries of closed claims, taken leads and past return times do not pile up in
-- front of the ones the claims look for.
alter table lead_claims set (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000);
alter table contact_state set (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000);
alter table lead_pool set (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000);

create or replace function claim_next_lead(p_agent text, p_now timestamp)
returns table (
    claim_id bigint,
    customer_id bigint,
    agent_id text,
    run_id integer,
    score_date date,
    rank integer,
    band text,
    propensity double precision,
    is_callback boolean,
    claimed_at timestamp,
    expires_at timestamp
)
language plpgsql
security definer
set search_path = public, pg_temp
as $$
#variable_conflict use_column
declare
    v_ctx record;
    v_rules contact_policy_settings;
    v_held integer;
    v_held_customers text;
    v_lapsed bigint[];
    v_zones record;
    v_next_opening timestamp;
    v_expires timestamp;
    v_pick record;
    v_claim_id bigint;
    v_constraint text;
begin
    -- The agent's role, the rules, tonight's night, the centre's date and its campaign.
    select u.role, r as rules, n.run_id, n.score_date, d.today, coalesce(m.campaign_name, '') as campaign
    into v_ctx
    from (select 1) as one
    left join users as u on u.user_name = p_agent and u.is_active
    left join contact_policy_settings as r on r.policy_id = 1
    left join lateral (select lead_claim_local_time(p_now, r.centre_time_zone)::date as today) as d on true
    left join lateral (
        select x.run_id, x.score_date from scoring_runs as x
        where x.status = 'published'
        order by x.score_date desc, x.published_at desc, x.run_id desc
        limit 1
    ) as n on true
    left join lateral (
        select x.campaign_name from campaigns as x
        where x.starts_on <= d.today and (x.ends_on is null or x.ends_on >= d.today)
        order by x.starts_on desc, x.campaign_name
        limit 1
    ) as m on true;
    if v_ctx.role is null then
        perform lead_claim_user(p_agent);  -- raises BSA01
    end if;
    if v_ctx.rules is null then
        perform lead_claim_rules();  -- raises: no policy
    end if;
    v_rules := v_ctx.rules;
    -- One call at a time per agent (two sessions of one agent could otherwise both pass the
    -- limit below); different agents never share the lock.
    perform pg_advisory_xact_lock(hashtextextended('bank_scoring.claim_next_lead:' || p_agent, 0));

    -- The agent's open claims: the unexpired ones count against the limit, the lapsed ones
    -- are closed (unless another session holds one: whoever takes its lead closes it).
    select count(*) filter (where k.expires_at > p_now),
           string_agg(k.customer_id::text, ', ' order by k.claim_id) filter (where k.expires_at > p_now),
           array_agg(k.claim_id) filter (where k.expires_at <= p_now)
    into v_held, v_held_customers, v_lapsed
    from lead_claims as k
    where k.agent_id = p_agent and k.status = 'open';
    if v_lapsed is not null then
        update lead_claims set status = 'expired', closed_at = p_now
        where ctid = any(array(
            select x.ctid from lead_claims as x where x.claim_id = any(v_lapsed) and x.status = 'open'
            for update skip locked));
    end if;
    if v_held >= v_rules.max_open_claims then
        raise exception using errcode = 'BSA05', message = format(
            'agent %s already holds %s lead(s) (customer %s); the limit is %s: record or release one first',
            p_agent, v_held, v_held_customers, v_rules.max_open_claims);
    end if;

    if v_ctx.run_id is null then
        raise exception using errcode = 'BSA06', message = 'no published night: run `bank-scoring score` first';
    end if;

    select * into v_zones from lead_claim_zones(p_now, v_rules);
    if cardinality(v_zones.open_zones) = 0 then
        return;  -- nobody is inside calling hours
    end if;
    v_next_opening := lead_claim_utc_time(
        (v_ctx.today + 1) + make_interval(mins => v_rules.window_start_minute), v_rules.centre_time_zone);
    v_expires := p_now + make_interval(mins => v_rules.lease_minutes);

    for v_try in 1..5 loop
        begin
            -- A due callback first; else the pool, which the other returning leads rejoin.
            select * into v_pick from lead_claim_take_returning(
                p_agent, p_now, v_rules, v_ctx.today, v_ctx.campaign, v_zones.open_zones, v_zones.closed_zones,
                v_zones.opens_at, v_next_opening, v_ctx.run_id, v_ctx.score_date);
            if v_pick.customer_id is null then
                select * into v_pick from lead_claim_take_pooled(
                    p_agent, p_now, v_rules, v_ctx.today, v_ctx.campaign, v_zones.open_zones, v_zones.closed_zones,
                    v_zones.opens_at, v_next_opening);
            end if;
            if v_pick.customer_id is null then
                return;
            end if;

            if v_pick.lapsed_claim is not null then
                update lead_claims set status = 'expired', closed_at = p_now where claim_id = v_pick.lapsed_claim;
            end if;
            insert into lead_claims (customer_id, agent_id, run_id, score_date, rank, band, propensity,
                                     is_callback, status, claimed_at, expires_at)
            values (v_pick.customer_id, p_agent, v_pick.run_id, v_pick.score_date, v_pick.rank, v_pick.band,
                    v_pick.propensity, v_pick.is_callback, 'open', p_now, v_expires)
            returning claim_id into v_claim_id;
            delete from lead_pool where customer_id = v_pick.customer_id;
            -- The lead comes back by itself if the lease runs out; recording or releasing it
            -- sets returns_at again.
            insert into contact_state as s (customer_id, returns_at) values (v_pick.customer_id, v_expires)
            on conflict (customer_id) do update set returns_at = excluded.returns_at;
            return query select v_claim_id, v_pick.customer_id, p_agent, v_pick.run_id, v_pick.score_date,
                                v_pick.rank, v_pick.band, v_pick.propensity, v_pick.is_callback, p_now, v_expires;
            return;
        exception when unique_violation or deadlock_detected then
            -- Another session took this customer first: its claim is committed now, so the
            -- next pick does not find it. Anything else, or a fifth loss, is raised.
            get stacked diagnostics v_constraint = constraint_name;
            if v_try = 5 or (sqlstate = '23505' and v_constraint is distinct from 'lead_claims_one_open') then
                raise;
            end if;
        end;
    end loop;
end;
$$;

create or replace function record_call_outcome(
    p_agent text, p_customer bigint, p_outcome text, p_now timestamp, p_callback_at timestamp, p_notes text
)
returns table (
    call_outcome_id bigint,
    claim_id bigint,
    customer_id bigint,
    agent_id text,
    outcome text,
    called_at timestamp,
    callback_at timestamp,
    duplicate boolean
)
language plpgsql
security definer
set search_path = public, pg_temp
as $$
#variable_conflict use_column
declare
    v_ctx record;
    v_role text;
    v_rules contact_policy_settings;
    v_today date;
    v_campaign text;
    v_ends date;
    v_claim record;
    v_found boolean;
    v_usable boolean;
    v_done record;
    v_stored record;
    v_callback timestamp := case when p_outcome = 'call_back' then p_callback_at end;
    v_returns timestamp;
    v_next_opening timestamp;
begin
    -- The checks of claims.record_outcome, here too for the agents' own wrapper.
    if p_outcome is null or p_outcome not in ('subscribed', 'declined', 'no_answer', 'call_back', 'do_not_call') then
        raise exception using errcode = 'BSA03', message = format(
            'outcome must be one of subscribed, declined, no_answer, call_back, do_not_call, got %s',
            quote_nullable(p_outcome));
    end if;
    if p_outcome = 'call_back' then
        if p_callback_at is null then
            raise exception using errcode = 'BSA03', message = 'a call_back needs the time to call back (callback_at)';
        end if;
        if p_callback_at <= p_now then
            raise exception using errcode = 'BSA03', message = format(
                'callback_at %s UTC is not in the future', to_char(p_callback_at, 'YYYY-MM-DD HH24:MI'));
        end if;
    elsif p_callback_at is not null then
        raise exception using errcode = 'BSA03', message = format(
            'callback_at is only for call_back, not %s', p_outcome);
    end if;
    if length(p_notes) > 2000 then
        raise exception using errcode = 'BSA03', message = 'notes are limited to 2000 characters';
    end if;

    -- The agent's role, the customer, the rules, the centre's date, its campaign and its end.
    select u.role, exists (select 1 from customers as c where c.customer_id = p_customer) as known,
           r as rules, d.today, coalesce(m.campaign_name, '') as campaign, m.ends_on
    into v_ctx
    from (select 1) as one
    left join users as u on u.user_name = p_agent and u.is_active
    left join contact_policy_settings as r on r.policy_id = 1
    left join lateral (select lead_claim_local_time(p_now, r.centre_time_zone)::date as today) as d on true
    left join lateral (
        select x.campaign_name, x.ends_on from campaigns as x
        where x.starts_on <= d.today and (x.ends_on is null or x.ends_on >= d.today)
        order by x.starts_on desc, x.campaign_name
        limit 1
    ) as m on true;
    if v_ctx.role is null then
        perform lead_claim_user(p_agent);  -- raises BSA01
    end if;
    v_role := v_ctx.role;
    if not v_ctx.known then
        raise exception using errcode = 'BSA02', message = format('no customer %s', p_customer);
    end if;
    if v_ctx.rules is null then
        perform lead_claim_rules();  -- raises: no policy
    end if;
    v_rules := v_ctx.rules;
    v_today := v_ctx.today;
    v_campaign := v_ctx.campaign;
    v_ends := v_ctx.ends_on;
    if p_callback_at is not null and v_campaign <> '' then
        if v_ends is not null and lead_claim_local_time(p_callback_at, v_rules.centre_time_zone)::date > v_ends then
            raise exception using errcode = 'BSA03', message = format(
                'callback_at is after campaign ''%s'' ends on %s', v_campaign, to_char(v_ends, 'YYYY-MM-DD'));
        end if;
    end if;

    -- The agent's latest claim on the customer (a team lead's, or whoever's open one),
    -- locked: a second recording of the same call waits here and finds it recorded.
    if v_role = 'agent' then
        select k.claim_id, k.status, k.expires_at, k.run_id, k.score_date, k.rank, k.band, k.propensity
        into v_claim
        from lead_claims as k
        where k.customer_id = p_customer and k.agent_id = p_agent
        order by k.claim_id desc
        limit 1
        for update;
    else
        select k.claim_id, k.status, k.expires_at, k.run_id, k.score_date, k.rank, k.band, k.propensity
        into v_claim
        from lead_claims as k
        where k.customer_id = p_customer and (k.agent_id = p_agent or k.status = 'open')
        order by k.claim_id desc
        limit 1
        for update;
    end if;
    v_found := found;

    if v_found and v_claim.status = 'recorded' then
        select o.call_outcome_id, o.claim_id, o.customer_id, o.agent_id, o.outcome, o.called_at, o.callback_at
        into v_done
        from call_outcomes as o where o.claim_id = v_claim.claim_id;
        if v_done.outcome = p_outcome then
            return query select v_done.call_outcome_id, v_done.claim_id, v_done.customer_id, v_done.agent_id,
                                v_done.outcome, v_done.called_at, v_done.callback_at, true;
            return;
        end if;
        raise exception using errcode = 'BSA04', message = format(
            'agent %s''s call to customer %s is already recorded as %s; claim the lead again to record another call',
            p_agent, p_customer, coalesce(v_done.outcome, '?'));
    end if;
    v_usable := v_found and v_claim.status = 'open' and v_claim.expires_at > p_now;
    if not v_usable and v_role = 'agent' then
        if v_found and v_claim.status in ('open', 'expired') then
            raise exception using errcode = 'BSA04', message = format(
                'agent %s''s claim on customer %s expired at %s UTC and the lead went back to the pool; '
                'nothing recorded', p_agent, p_customer, to_char(v_claim.expires_at, 'HH24:MI'));
        end if;
        raise exception using errcode = 'BSA04', message = format(
            'agent %s holds no claim on customer %s; take it with `agent next`', p_agent, p_customer);
    end if;

    -- Without a usable claim (a team lead's call made outside the list) the call belongs to
    -- today and carries no claim.
    insert into call_outcomes (customer_id, score_date, agent_id, outcome, notes, called_at, claim_id,
                               run_id, rank, band, propensity, callback_at)
    values (p_customer,
            case when v_usable then v_claim.score_date else v_today end,
            p_agent, p_outcome, p_notes, p_now,
            case when v_usable then v_claim.claim_id end,
            case when v_usable then v_claim.run_id end,
            case when v_usable then v_claim.rank end,
            case when v_usable then v_claim.band end,
            case when v_usable then v_claim.propensity end,
            p_callback_at)
    returning call_outcome_id, claim_id, customer_id, agent_id, outcome, called_at, callback_at
    into v_stored;
    if v_usable then
        update lead_claims set status = 'recorded', closed_at = p_now where claim_id = v_claim.claim_id;
    end if;

    -- One more call in contact_state (claims_sqlite.note_call): a no-answer or a callback
    -- sets when the lead returns, a no-answer that uses up the day's attempts returns when
    -- the centre opens the next day, and a customer at the campaign's attempt limit does
    -- not return (the limits are compared with the attempts before this call, plus one).
    v_returns := case p_outcome
        when 'no_answer' then p_now + v_rules.no_answer_hours * interval '1 hour'
        when 'call_back' then p_callback_at
    end;
    v_next_opening := lead_claim_utc_time(
        (v_today + 1) + make_interval(mins => v_rules.window_start_minute), v_rules.centre_time_zone);
    insert into contact_state as s (customer_id, campaign_name, campaign_attempts, attempt_day, day_attempts,
                                    last_outcome, last_called_at, declined_at, subscribed_campaign, callback_at,
                                    callback_agent, returns_at)
    values (p_customer, v_campaign, 1, v_today, 1, p_outcome, p_now,
            case when p_outcome = 'declined' then p_now end,
            case when p_outcome = 'subscribed' then v_campaign end,
            v_callback,
            case when v_callback is not null then p_agent end,
            case
                when 1 >= v_rules.max_campaign_attempts then null
                when p_outcome = 'no_answer' and 1 >= v_rules.max_day_attempts then v_next_opening
                else v_returns
            end)
    on conflict (customer_id) do update set
        campaign_attempts = case when s.campaign_name = v_campaign then s.campaign_attempts + 1 else 1 end,
        campaign_name = v_campaign,
        day_attempts = case when s.attempt_day = v_today then s.day_attempts + 1 else 1 end,
        attempt_day = v_today,
        last_outcome = p_outcome,
        last_called_at = p_now,
        declined_at = case when p_outcome = 'declined' then p_now else s.declined_at end,
        subscribed_campaign = case when p_outcome = 'subscribed' then v_campaign else s.subscribed_campaign end,
        callback_at = v_callback,
        callback_agent = case when v_callback is null then null else p_agent end,
        returns_at = case
            when (case when s.campaign_name = v_campaign then s.campaign_attempts + 1 else 1 end)
                >= v_rules.max_campaign_attempts then null
            when p_outcome = 'no_answer'
                and (case when s.attempt_day = v_today then s.day_attempts + 1 else 1 end) >= v_rules.max_day_attempts
                then v_next_opening
            else v_returns
        end;

    if p_outcome = 'do_not_call' then
        update customers set is_do_not_call = true where customer_id = p_customer;
        insert into customer_objections (customer_id, kind, reason, source, recorded_at)
        values (p_customer, 'do_not_call', coalesce(nullif(p_notes, ''), 'asked not to be called'),
                'agent ' || p_agent, p_now);
        delete from lead_pool where customer_id = p_customer;
    end if;
    return query select v_stored.call_outcome_id, v_stored.claim_id, v_stored.customer_id, v_stored.agent_id,
                        v_stored.outcome, v_stored.called_at, v_stored.callback_at, false;
end;
$$;

create or replace function release_lead(p_agent text, p_customer bigint, p_now timestamp)
returns bigint
language plpgsql
security definer
set search_path = public, pg_temp
as $$
declare
    v_claim_id bigint;
begin
    perform lead_claim_user(p_agent);
    select k.claim_id into v_claim_id
    from lead_claims as k
    where k.agent_id = p_agent and k.customer_id = p_customer and k.status = 'open' and k.expires_at > p_now
    for update;
    if not found then
        raise exception using errcode = 'BSA04', message = format(
            'agent %s holds no open claim on customer %s', p_agent, p_customer);
    end if;
    update lead_claims as k set status = 'released', closed_at = p_now where k.claim_id = v_claim_id;
    insert into contact_state as s (customer_id, returns_at) values (p_customer, p_now)
    on conflict (customer_id) do update set returns_at = excluded.returns_at;
    return v_claim_id;
end;
$$;

-- The agents' own: session_user is the agent (SECURITY DEFINER changes current_user, never
-- session_user) and the clock is the server's, in naive UTC like the package's.
create or replace function agent_next_lead()
returns table (
    claim_id bigint,
    customer_id bigint,
    agent_id text,
    run_id integer,
    score_date date,
    rank integer,
    band text,
    propensity double precision,
    is_callback boolean,
    claimed_at timestamp,
    expires_at timestamp
)
language sql
security definer
set search_path = public, pg_temp
as $$
    select * from claim_next_lead(session_user::text, (now() at time zone 'utc')::timestamp)
$$;

create or replace function agent_record_outcome(
    p_customer bigint, p_outcome text, p_callback_at timestamp, p_notes text
)
returns table (
    call_outcome_id bigint,
    claim_id bigint,
    customer_id bigint,
    agent_id text,
    outcome text,
    called_at timestamp,
    callback_at timestamp,
    duplicate boolean
)
language sql
security definer
set search_path = public, pg_temp
as $$
    select * from record_call_outcome(session_user::text, p_customer, p_outcome,
                                      (now() at time zone 'utc')::timestamp, p_callback_at, p_notes)
$$;

create or replace function agent_release(p_customer bigint)
returns bigint
language sql
security definer
set search_path = public, pg_temp
as $$
    select release_lead(session_user::text, p_customer, (now() at time zone 'utc')::timestamp)
$$;

revoke all on function claim_next_lead(text, timestamp) from public;
revoke all on function record_call_outcome(text, bigint, text, timestamp, timestamp, text) from public;
revoke all on function release_lead(text, bigint, timestamp) from public;
revoke all on function agent_next_lead() from public;
revoke all on function agent_record_outcome(bigint, text, timestamp, text) from public;
revoke all on function agent_release(bigint) from public;
