"""Claims on PostgreSQL: each step is one call of a function of sql/lead_claim_functions.sql.

The functions do what claims_sqlite.py does, taking rows with ``FOR UPDATE SKIP LOCKED``
so agents never wait on each other. Each call is one statement in autocommit: the
statement is its own transaction, one round trip instead of three (BEGIN, the call,
COMMIT), which matters with dozens of agents on a small server. The functions refuse bad
input with an SQLSTATE of their own (BSA01-BSA06), raised here as the matching error of
errors.py with the function's message.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from bank_scoring.agents import errors
from bank_scoring.agents.claims import Lead, Recorded

SQLSTATES = {
    "BSA01": errors.UnknownAgent,
    "BSA02": errors.UnknownCustomer,
    "BSA03": errors.BadOutcome,
    "BSA04": errors.NoClaim,
    "BSA05": errors.ClaimLimit,
    "BSA06": errors.NoNight,
}


def _call(engine: Engine, sql: str, params: dict):
    """The first row of one function call, committed; a refusal as its AgentError.

    ``sql`` is in the driver's own parameter style (``%(name)s``): no statement to compile.
    """
    try:
        with engine.connect() as conn:
            return conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(sql, params).first()
    except DBAPIError as exc:
        kind = SQLSTATES.get(getattr(exc.orig, "sqlstate", None))
        if kind is None:
            raise
        raise kind(exc.orig.diag.message_primary) from None


def next_lead(engine: Engine, agent: str, now: dt.datetime) -> Lead | None:
    row = _call(
        engine,
        "select claim_id, customer_id, agent_id, run_id, score_date, rank, band, propensity, is_callback, "
        "claimed_at, expires_at from claim_next_lead(cast(%(a)s as text), cast(%(now)s as timestamp))",
        {"a": agent, "now": now},
    )
    if row is None:
        return None
    return Lead(
        int(row.claim_id),
        int(row.customer_id),
        row.agent_id,
        int(row.run_id),
        row.score_date,
        int(row.rank),
        row.band,
        float(row.propensity),
        bool(row.is_callback),
        row.claimed_at,
        row.expires_at,
    )


def record_outcome(engine, agent, customer_id, outcome, now, callback_at, notes) -> Recorded:
    row = _call(
        engine,
        "select call_outcome_id, claim_id, customer_id, agent_id, outcome, called_at, callback_at, duplicate "
        "from record_call_outcome(cast(%(a)s as text), cast(%(c)s as bigint), cast(%(o)s as text), "
        "cast(%(now)s as timestamp), cast(%(cb)s as timestamp), cast(%(n)s as text))",
        {"a": agent, "c": customer_id, "o": outcome, "now": now, "cb": callback_at, "n": notes},
    )
    return Recorded(
        int(row.call_outcome_id),
        None if row.claim_id is None else int(row.claim_id),
        int(row.customer_id),
        row.agent_id,
        row.outcome,
        row.called_at,
        row.callback_at,
        bool(row.duplicate),
    )


def release(engine: Engine, agent: str, customer_id: int, now: dt.datetime) -> int:
    row = _call(
        engine,
        "select release_lead(cast(%(a)s as text), cast(%(c)s as bigint), cast(%(now)s as timestamp))",
        {"a": agent, "c": customer_id, "now": now},
    )
    return int(row[0])
