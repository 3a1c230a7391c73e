"""The night's pool of leads: filled when a night is published, taken from by claims."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import Engine, text

from bank_scoring.agents import policy

log = logging.getLogger(__name__)


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
        conn.execute(text("delete from lead_pool"))
        conn.execute(
            text(
                "insert into lead_pool (run_id, score_date, rank, customer_id, band, propensity) "
                "select sc.run_id, sc.score_date, sc.rank, sc.customer_id, sc.band, sc.propensity "
                "from customer_scores as sc "
                "inner join customers as c on sc.customer_id = c.customer_id "
                "left join contact_state as s on sc.customer_id = s.customer_id "
                "where sc.score_date = :d and sc.run_id = :r "
                "and not c.is_do_not_call and not c.has_objected "
                "and s.returns_at is null "
                "and (s.subscribed_campaign is null or s.subscribed_campaign <> :campaign) "
                "and (s.declined_at is null or s.declined_at <= :declined_since) "
                "and not exists (select 1 from lead_claims as k where k.customer_id = sc.customer_id "
                "and k.status = 'open')"
            ),
            {
                "d": score_date,
                "r": run_id,
                "campaign": policy.current_campaign(conn, today),
                "declined_since": now - dt.timedelta(days=rules.declined_days),
            },
        )
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
