"""Claims on SQLite: each step is one ``BEGIN IMMEDIATE`` transaction, so one writer at a time.

The reference for sql/lead_claim_functions.sql (PostgreSQL): the same steps, the same
statements where the two databases allow, the same tests.
"""

from __future__ import annotations

import contextlib
import datetime as dt

from sqlalchemy import Connection, Engine, text

from bank_scoring.agents import errors, policy
from bank_scoring.agents.claims import Lead, Recorded
from bank_scoring.db import as_date


@contextlib.contextmanager
def immediate(engine: Engine):
    """A transaction that holds SQLite's write lock from its first statement."""
    with engine.connect() as conn:
        conn.exec_driver_sql("begin immediate")
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


def as_datetime(value) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))


def require_user(conn: Connection, agent: str, roles=("agent", "team_lead", "admin")) -> str:
    role = conn.execute(text("select role from users where user_name = :a and is_active"), {"a": agent}).scalar()
    if role is None or role not in roles:
        raise errors.UnknownAgent(
            f"no active agent {agent!r}: add one with `bank-scoring users add {agent} --role agent`"
        )
    return role


def expire_claims(conn: Connection, now: dt.datetime) -> None:
    """Close claims whose lease ran out; their customers return to the pool now."""
    expired = [
        r[0]
        for r in conn.execute(
            text("select customer_id from lead_claims where status = 'open' and expires_at <= :now"), {"now": now}
        )
    ]
    if not expired:
        return
    conn.execute(
        text(
            "update lead_claims set status = 'expired', closed_at = :now where status = 'open' and expires_at <= :now"
        ),
        {"now": now},
    )
    conn.execute(
        text(
            "insert into contact_state (customer_id, returns_at) values (:c, :now) "
            "on conflict (customer_id) do update set returns_at = excluded.returns_at"
        ),
        [{"c": c, "now": now} for c in expired],
    )


def latest_night(conn: Connection):
    return conn.execute(
        text(
            "select run_id, score_date from scoring_runs where status = 'published' "
            "order by score_date desc, published_at desc, run_id desc limit 1"
        )
    ).first()


def next_lead(engine: Engine, agent: str, now: dt.datetime) -> Lead | None:
    with immediate(engine) as conn:
        require_user(conn, agent)
        rules = policy.load_rules(conn)
        expire_claims(conn, now)
        held = [
            r[0]
            for r in conn.execute(
                text("select customer_id from lead_claims where agent_id = :a and status = 'open' order by claim_id"),
                {"a": agent},
            )
        ]
        if len(held) >= rules.max_open_claims:
            raise errors.ClaimLimit(
                f"agent {agent} already holds {len(held)} lead(s) (customer {', '.join(map(str, held))}); "
                f"the limit is {rules.max_open_claims}: record or release one first"
            )
        night = latest_night(conn)
        if night is None:
            raise errors.NoNight("no published night: run `bank-scoring score` first")
        params = policy.bind(conn, rules, now, agent)
        held_by = policy.policy_expression("sqlite")
        returning = conn.execute(
            text(
                "select s.customer_id, sc.run_id, sc.score_date, coalesce(xa.pool_rank, sc.rank) as rank, "
                "sc.band, sc.propensity, "
                "s.callback_at is not null and s.callback_at <= :now as is_callback "
                # CROSS JOIN makes SQLite walk the due customers (contact_state_returns)
                # first; left to itself it scans all of tonight's scores, one per customer.
                "from contact_state as s "
                "cross join customer_scores as sc on sc.customer_id = s.customer_id "
                "and sc.score_date = :score_date and sc.run_id = :run "
                "inner join customers as c on s.customer_id = c.customer_id "
                # An exploration lead keeps the place in the list it was drawn into.
                "left join lead_assignments as xa on xa.run_id = sc.run_id and xa.customer_id = s.customer_id "
                "and xa.role = 'exploration' "
                f"where s.returns_at <= :now and ({held_by}) is null "
                "and not exists (select 1 from lead_assignments as la where la.run_id = :run "
                "and la.customer_id = s.customer_id and la.role = 'control') "
                "order by case when s.callback_at is null then 2 when s.callback_agent = :agent then 0 else 1 end, "
                "coalesce(xa.pool_rank, sc.rank) limit 1"
            ),
            {**params, "score_date": as_date(night.score_date), "run": night.run_id},
        ).first()
        pooled = None
        if returning is None or not returning.is_callback:
            pooled = conn.execute(
                text(
                    "select p.customer_id, p.run_id, p.score_date, p.rank, p.band, p.propensity, 0 as is_callback "
                    "from lead_pool as p "
                    "inner join customers as c on p.customer_id = c.customer_id "
                    "left join contact_state as s on p.customer_id = s.customer_id "
                    f"where ({held_by}) is null "
                    "and not exists (select 1 from lead_assignments as la where la.run_id = p.run_id "
                    "and la.customer_id = p.customer_id and la.role = 'control') "
                    "order by p.run_id, p.rank limit 1"
                ),
                params,
            ).first()
        best = returning
        if pooled is not None and (returning is None or (not returning.is_callback and pooled.rank < returning.rank)):
            best = pooled
        if best is None:
            return None
        expires = now + dt.timedelta(minutes=rules.lease_minutes)
        claim_id = conn.execute(
            text(
                "insert into lead_claims (customer_id, agent_id, run_id, score_date, rank, band, propensity, "
                "is_callback, status, claimed_at, expires_at) values (:c, :a, :r, :d, :k, :b, :p, :cb, 'open', "
                ":now, :exp) returning claim_id"
            ),
            {
                "c": best.customer_id,
                "a": agent,
                "r": best.run_id,
                "d": as_date(best.score_date),
                "k": best.rank,
                "b": best.band,
                "p": best.propensity,
                "cb": bool(best.is_callback),
                "now": now,
                "exp": expires,
            },
        ).scalar_one()
        conn.execute(text("delete from lead_pool where customer_id = :c"), {"c": best.customer_id})
        conn.execute(text("update contact_state set returns_at = null where customer_id = :c"), {"c": best.customer_id})
    return Lead(
        int(claim_id),
        int(best.customer_id),
        agent,
        int(best.run_id),
        as_date(best.score_date),
        int(best.rank),
        best.band,
        float(best.propensity),
        bool(best.is_callback),
        now,
        expires,
    )


def _stored(conn: Connection, outcome_id: int, duplicate: bool) -> Recorded:
    row = conn.execute(
        text(
            "select call_outcome_id, claim_id, customer_id, agent_id, outcome, called_at, callback_at "
            "from call_outcomes where call_outcome_id = :o"
        ),
        {"o": outcome_id},
    ).one()
    return Recorded(
        int(row.call_outcome_id),
        row.claim_id,
        int(row.customer_id),
        row.agent_id,
        row.outcome,
        as_datetime(row.called_at),
        as_datetime(row.callback_at),
        duplicate,
    )


def record_outcome(engine, agent, customer_id, outcome, now, callback_at, notes) -> Recorded:
    with immediate(engine) as conn:
        role = require_user(conn, agent)
        if conn.execute(text("select 1 from customers where customer_id = :c"), {"c": customer_id}).first() is None:
            raise errors.UnknownCustomer(f"no customer {customer_id}")
        rules = policy.load_rules(conn)
        today = policy.local_now(rules, now).date()
        campaign = policy.current_campaign(conn, today)
        if callback_at is not None:
            ends = policy.campaign_end(conn, campaign)
            if ends is not None and policy.local_now(rules, callback_at).date() > ends:
                raise errors.BadOutcome(f"callback_at is after campaign {campaign!r} ends on {ends}")
        claim = conn.execute(
            text(
                "select claim_id, status, expires_at, run_id, score_date, rank, band, propensity from lead_claims "
                "where customer_id = :c and (agent_id = :a or (:lead and status = 'open')) "
                "order by claim_id desc limit 1"
            ),
            {"c": customer_id, "a": agent, "lead": role != "agent"},
        ).first()
        if claim is not None and claim.status == "recorded":
            done = conn.execute(
                text("select call_outcome_id, outcome from call_outcomes where claim_id = :k"), {"k": claim.claim_id}
            ).first()
            if done is not None and done.outcome == outcome:
                return _stored(conn, done.call_outcome_id, duplicate=True)
            raise errors.NoClaim(
                f"agent {agent}'s call to customer {customer_id} is already recorded as "
                f"{done.outcome if done else '?'}; "
                "claim the lead again to record another call"
            )
        usable = claim is not None and claim.status == "open" and as_datetime(claim.expires_at) > now
        if not usable and role == "agent":
            if claim is not None and claim.status in ("open", "expired"):
                raise errors.NoClaim(
                    f"agent {agent}'s claim on customer {customer_id} expired at "
                    f"{as_datetime(claim.expires_at):%H:%M} UTC and the lead went back to the pool; nothing recorded"
                )
            raise errors.NoClaim(f"agent {agent} holds no claim on customer {customer_id}; take it with `agent next`")
        if not usable:
            claim = None  # a team lead records a call made outside the list
        outcome_id = conn.execute(
            text(
                "insert into call_outcomes (customer_id, score_date, agent_id, outcome, notes, called_at, claim_id, "
                "run_id, rank, band, propensity, callback_at) values (:c, :d, :a, :o, :n, :now, :k, :r, :rk, :b, :p, "
                ":cb) returning call_outcome_id"
            ),
            {
                "c": customer_id,
                "d": as_date(claim.score_date) if claim else today,
                "a": agent,
                "o": outcome,
                "n": notes,
                "now": now,
                "k": claim.claim_id if claim else None,
                "r": claim.run_id if claim else None,
                "rk": claim.rank if claim else None,
                "b": claim.band if claim else None,
                "p": claim.propensity if claim else None,
                "cb": callback_at,
            },
        ).scalar_one()
        if claim is not None:
            conn.execute(
                text("update lead_claims set status = 'recorded', closed_at = :now where claim_id = :k"),
                {"now": now, "k": claim.claim_id},
            )
        note_call(conn, rules, customer_id, agent, outcome, now, today, campaign, callback_at)
        if outcome == "do_not_call":
            flag_do_not_call(conn, customer_id, f"agent {agent}", notes or "asked not to be called", now)
        return _stored(conn, outcome_id, duplicate=False)


def note_call(conn, rules, customer_id, agent, outcome, now, today, campaign, callback_at) -> None:
    """Update the customer's contact_state with one more call.

    A no-answer or a callback sets when the lead returns; a no-answer that uses up the
    day's attempts returns when the next day's calling hours open, and a customer at the
    campaign's attempt limit does not return (the SET clauses see the row as it was, so
    the limits are compared with the attempts before this call, plus one).
    """
    returns = {
        "no_answer": now + dt.timedelta(hours=rules.no_answer_hours),
        "call_back": callback_at,
    }.get(outcome)
    conn.execute(
        text("insert into contact_state (customer_id) values (:c) on conflict (customer_id) do nothing"),
        {"c": customer_id},
    )
    conn.execute(
        text(
            "update contact_state set "
            "campaign_attempts = case when campaign_name = :campaign then campaign_attempts + 1 else 1 end, "
            "campaign_name = :campaign, "
            "day_attempts = case when attempt_day = :today then day_attempts + 1 else 1 end, "
            "attempt_day = :today, last_outcome = :o, last_called_at = :now, "
            "declined_at = case when :o = 'declined' then :now else declined_at end, "
            "subscribed_campaign = case when :o = 'subscribed' then :campaign else subscribed_campaign end, "
            "callback_at = :cb, callback_agent = case when :cb is null then null else :a end, "
            "returns_at = case when (case when campaign_name = :campaign then campaign_attempts + 1 else 1 end) "
            ">= :max_campaign then null "
            "when :o = 'no_answer' and (case when attempt_day = :today then day_attempts + 1 else 1 end) "
            ">= :max_day then :next_day else :ret end "
            "where customer_id = :c"
        ),
        {
            "c": customer_id,
            "campaign": campaign,
            "today": today,
            "o": outcome,
            "now": now,
            "cb": callback_at if outcome == "call_back" else None,
            "a": agent,
            "ret": returns,
            "max_campaign": rules.max_campaign_attempts,
            "max_day": rules.max_day_attempts,
            "next_day": policy.next_opening(rules, today),
        },
    )


def flag_do_not_call(conn: Connection, customer_id: int, source: str, reason: str, now: dt.datetime) -> None:
    conn.execute(text("update customers set is_do_not_call = true where customer_id = :c"), {"c": customer_id})
    conn.execute(
        text(
            "insert into customer_objections (customer_id, kind, reason, source, recorded_at) "
            "values (:c, 'do_not_call', :r, :s, :now)"
        ),
        {"c": customer_id, "r": reason, "s": source, "now": now},
    )
    conn.execute(text("delete from lead_pool where customer_id = :c"), {"c": customer_id})


def release(engine: Engine, agent: str, customer_id: int, now: dt.datetime) -> int:
    with immediate(engine) as conn:
        require_user(conn, agent)
        claim_id = conn.execute(
            text(
                "select claim_id from lead_claims where agent_id = :a and customer_id = :c and status = 'open' "
                "and expires_at > :now"
            ),
            {"a": agent, "c": customer_id, "now": now},
        ).scalar()
        if claim_id is None:
            raise errors.NoClaim(f"agent {agent} holds no open claim on customer {customer_id}")
        conn.execute(
            text("update lead_claims set status = 'released', closed_at = :now where claim_id = :k"),
            {"now": now, "k": claim_id},
        )
        conn.execute(
            text(
                "insert into contact_state (customer_id, returns_at) values (:c, :now) "
                "on conflict (customer_id) do update set returns_at = excluded.returns_at"
            ),
            {"c": customer_id, "now": now},
        )
    return int(claim_id)
