"""The night's pool of leads: filled when a night is published, taken from by claims."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import Engine, text

from bank_scoring.agents import policy

log = logging.getLogger(__name__)


# Who no rule will let be called tonight: do-not-call and objecting customers; a customer
# waiting to return, a subscriber of this campaign, one declined within the cool-down; one
# an agent holds.
_LEFT_OUT = (
    ("customers", "c", "c.is_do_not_call or c.has_objected"),
    (
        "contact_state",
        "s",
        "s.returns_at is not null or s.subscribed_campaign = :campaign or s.declined_at > :declined_since",
    ),
    ("lead_claims", "k", "k.status = 'open'"),
)


def _left_out(table: str, alias: str, rule: str, postgres: bool) -> str:
    """The condition that keeps a score out of the pool when its customer has a row of ``table`` matching ``rule``.

    PostgreSQL hashes NOT EXISTS into an anti-join (NOT IN over a set larger than work_mem
    would be read again for every row). SQLite builds a NOT IN list once, where a
    correlated lookup per score took 4 s at a million customers (0.5 s this way).
    """
    if postgres:
        return f"not exists (select 1 from {table} as {alias} where {alias}.customer_id = sc.customer_id and ({rule}))"
    return f"sc.customer_id not in (select {alias}.customer_id from {table} as {alias} where {rule})"


def refill(
    engine: Engine,
    run_id: int,
    now: dt.datetime,
    control_share: float | None = None,
    exploration_share: float | None = None,
) -> int:
    """Replace the pool with run ``run_id``'s leads that the policy may let be called that night.

    Left out: do-not-call and objecting customers, subscribers of the current campaign,
    customers declined within the cool-down, and customers an agent holds or who wait in
    contact_state for a return (they come back through it). Both nights' leads are never
    in the pool together: the swap is one transaction. Then the control group leaves the
    pool and the exploration slice joins the list (bank_scoring/loop/control.py; shares
    from $BANK_SCORING_CONTROL_SHARE and $BANK_SCORING_EXPLORATION_SHARE unless given).
    Returns the pool's size.
    """
    from bank_scoring.config import selection_shares
    from bank_scoring.loop import control

    if control_share is None or exploration_share is None:
        env_control, env_exploration = selection_shares()
        control_share = env_control if control_share is None else control_share
        exploration_share = env_exploration if exploration_share is None else exploration_share
    with engine.begin() as conn:
        rules = policy.load_rules(conn)
        policy.refresh_time_zones(conn, rules, now)
        score_date = conn.execute(text("select score_date from scoring_runs where run_id = :r"), {"r": run_id}).scalar()
        today = policy.local_now(rules, now).date()
        postgres = conn.dialect.name == "postgresql"
        # A bare table filled, then indexed: keeping the customer index row by row, in an
        # order random to it, cost more than building it (sql/lead_pool_fill.sql on
        # PostgreSQL, which runs with the schema owner's rights; the same here on SQLite).
        if postgres:
            conn.execute(text("select lead_pool_empty()"))
        else:
            conn.execute(text("pragma cache_size = -65536"))  # 64 MiB: the night's tables, not 2 MiB of them
            conn.execute(text("delete from lead_pool"))
            conn.execute(text("drop index if exists lead_pool_customer"))
        conn.execute(
            text(
                "insert into lead_pool (run_id, score_date, rank, customer_id, band, propensity) "
                "select sc.run_id, sc.score_date, sc.rank, sc.customer_id, sc.band, sc.propensity "
                "from customer_scores as sc where sc.score_date = :d and sc.run_id = :r and "
                + " and ".join(_left_out(table, alias, rule, postgres) for table, alias, rule in _LEFT_OUT)
            ),
            {
                "d": score_date,
                "r": run_id,
                "campaign": policy.current_campaign(conn, today),
                "declined_since": now - dt.timedelta(days=rules.declined_days),
            },
        )
        if postgres:
            conn.execute(text("select lead_pool_index()"))
        else:
            conn.execute(text("create index lead_pool_customer on lead_pool (customer_id)"))  # sql/lead_pool.sql
        drawn = control.select(conn, run_id, score_date, control_share, exploration_share)
        size = conn.execute(text("select count(*) from lead_pool")).scalar_one()
    log.info(
        "run %s: %s leads in the pool; %s control customers kept out, %s exploration leads from below the cut "
        "(probability %.4f)",
        run_id,
        size,
        drawn.control,
        drawn.explored,
        drawn.probability,
    )
    return int(size)
