"""Handing leads to agents: claim the next lead, record the call, release a lead.

One agent per lead: on PostgreSQL the SQL functions of sql/lead_claim_functions.sql do
each step in one call (rows taken with ``FOR UPDATE SKIP LOCKED``, so agents never wait
on each other); on SQLite the same steps run here inside ``BEGIN IMMEDIATE`` (one writer
at a time). Both apply the contact policy of sql/contact_policy.sql and answer to the
same tests. Every function takes the clock (``now``, naive UTC) as an argument.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine

from bank_scoring.agents import errors
from bank_scoring.agents.policy import OUTCOMES
from bank_scoring.db import dialect_of


@dataclass(frozen=True)
class Lead:
    """A lead handed to one agent until ``expires_at`` (or until recorded or released)."""

    claim_id: int
    customer_id: int
    agent_id: str
    run_id: int
    score_date: dt.date
    rank: int
    band: str
    propensity: float
    is_callback: bool
    claimed_at: dt.datetime
    expires_at: dt.datetime


@dataclass(frozen=True)
class Recorded:
    """An outcome as stored; ``duplicate`` when the same call had already been recorded."""

    call_outcome_id: int
    claim_id: int | None
    customer_id: int
    agent_id: str
    outcome: str
    called_at: dt.datetime
    callback_at: dt.datetime | None
    duplicate: bool


def _backend(engine: Engine):
    if dialect_of(engine) == "postgresql":
        from bank_scoring.agents import claims_postgres

        return claims_postgres
    from bank_scoring.agents import claims_sqlite

    return claims_sqlite


def next_lead(engine: Engine, agent: str, now: dt.datetime) -> Lead | None:
    """Hand ``agent`` the best lead the contact policy lets be called at ``now``, or None.

    Due callbacks come first (the agent's own, then others' past their grace), then
    returning leads and the night's pool in rank order. Raises UnknownAgent, ClaimLimit
    (the agent holds ``max_open_claims`` leads) or NoNight.
    """
    return _backend(engine).next_lead(engine, agent, now)


def record_outcome(
    engine: Engine,
    agent: str,
    customer_id: int,
    outcome: str,
    now: dt.datetime,
    callback_at: dt.datetime | None = None,
    notes: str | None = None,
) -> Recorded:
    """Record the call ``agent`` made to ``customer_id`` from their open claim, and close it.

    Idempotent: the same outcome recorded again for the same claim returns the stored
    row (``duplicate=True``). A team lead may record for a customer without holding a
    claim (closing whoever's open claim there is). ``do_not_call`` flags the customer in
    the same transaction. Raises UnknownAgent, UnknownCustomer, BadOutcome or NoClaim;
    nothing is written then.
    """
    if outcome not in OUTCOMES:
        raise errors.BadOutcome(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    if outcome == "call_back":
        if callback_at is None:
            raise errors.BadOutcome("a call_back needs the time to call back (callback_at)")
        if callback_at <= now:
            raise errors.BadOutcome(f"callback_at {callback_at:%Y-%m-%d %H:%M} UTC is not in the future")
    elif callback_at is not None:
        raise errors.BadOutcome(f"callback_at is only for call_back, not {outcome}")
    if notes is not None and len(notes) > 2000:
        raise errors.BadOutcome("notes are limited to 2000 characters")
    return _backend(engine).record_outcome(engine, agent, int(customer_id), outcome, now, callback_at, notes)


def release(engine: Engine, agent: str, customer_id: int, now: dt.datetime) -> int:
    """Give back ``agent``'s open claim on ``customer_id``: the lead returns to the pool now.

    Returns the claim id. Raises UnknownAgent or NoClaim.
    """
    return _backend(engine).release(engine, agent, int(customer_id), now)


def open_claims(engine: Engine, agent: str, now: dt.datetime) -> list[int]:
    """The customers ``agent`` holds an unexpired claim on at ``now``, oldest claim first."""
    from sqlalchemy import text

    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "select customer_id from lead_claims where agent_id = :a and status = 'open' and expires_at > :now "
                "order by claim_id"
            ),
            {"a": agent, "now": now},
        )
        return [int(r[0]) for r in rows]
