"""Publishing a complete run: the night agents see, in one transaction.

publish_run refuses (and marks the run failed) when any customer is neither scored nor
rejected, so nobody is silently left off. Beside the database's work it computes the
reason codes of the best customers and the night's drift; the backend ranks the run into
``customer_scores`` and all of it commits together with the run's 'published' status.
"""

from __future__ import annotations

import dataclasses
import json
import logging

import pandas as pd
from sqlalchemy import Connection, Engine, bindparam, text

from bank_scoring import monitor
from bank_scoring.config import DEFAULT_REASON_ROWS, selection_shares
from bank_scoring.db import as_date
from bank_scoring.explain import reason_codes
from bank_scoring.features import CUSTOMER_ATTRIBUTES, counting_the_call, feature_frame, month_name
from bank_scoring.model_bundle import ModelBundle
from bank_scoring.scoring import backend
from bank_scoring.scoring.partition import night_profile, run_model
from bank_scoring.scoring.profile import RunProfile
from bank_scoring.scoring.runs import RunSummary, ScoringError, as_datetime, get_run, mark_failed, run_row, utcnow

log = logging.getLogger(__name__)


def check_complete(engine: Engine, run_id: int) -> tuple[int, int, int]:
    """The run's (scored, rejected, suppressed) counts once every customer is one of the three.

    Suppressed customers objected to profiling and are not scored; one who objected while
    the run was scoring is taken out of its rows here. Counts and id checksums instead of
    an anti-join over the whole table: one scan of each table. A customer added or
    removed during the run changes them. On a mismatch the run is marked failed and
    ScoringError raised.
    """
    with engine.begin() as conn:
        for table in ("customer_scores_staging", "scoring_rejects"):
            conn.execute(
                text(
                    f"delete from {table} where run_id = :r and customer_id in "
                    "(select customer_id from customers where has_objected)"
                ),
                {"r": run_id},
            )
        total, id_sum, suppressed, suppressed_sum = conn.execute(
            text(
                "select count(*), coalesce(sum(customer_id), 0), "
                "coalesce(sum(case when has_objected then 1 else 0 end), 0), "
                "coalesce(sum(case when has_objected then customer_id else 0 end), 0) from customers"
            )
        ).one()
        scored, scored_sum = conn.execute(
            text("select count(*), coalesce(sum(customer_id), 0) from customer_scores_staging where run_id = :r"),
            {"r": run_id},
        ).one()
        rejected, rejected_sum = conn.execute(
            text("select count(*), coalesce(sum(customer_id), 0) from scoring_rejects where run_id = :r"), {"r": run_id}
        ).one()
    missing = total - scored - rejected - suppressed
    if missing or int(id_sum) != int(scored_sum) + int(rejected_sum) + int(suppressed_sum):
        if missing > 0:
            error = (
                f"{missing} customers were neither scored, rejected nor suppressed "
                "(added during the run, or a partition did not run)"
            )
        else:
            error = (
                f"the run's {scored + rejected + suppressed} scored, rejected and suppressed rows do not match the "
                f"{total} customers (customers removed or replaced during the run, or a partition ran twice at once)"
            )
        mark_failed(engine, run_id, error)
        raise ScoringError(f"run {run_id}: {error}; nothing was published")
    with engine.begin() as conn:  # the checked counts: the publish compares the night's rows with them
        conn.execute(
            text(
                "update scoring_runs set customers_total = :t, customers_scored = :s, "
                "customers_rejected = :j, customers_suppressed = :u where run_id = :r"
            ),
            {"t": total, "s": scored, "j": rejected, "u": suppressed, "r": run_id},
        )
    return int(scored), int(rejected), int(suppressed)


def publish_run(
    engine: Engine,
    run_id: int,
    profile: RunProfile | None = None,
    reason_rows: int = DEFAULT_REASON_ROWS,
    now=None,
) -> RunSummary:
    """Make a complete run the one agents see, replacing the date's earlier published scores.

    ``profile`` collects where the time went (a new one when not given); the returned
    summary carries it. ``now`` is the contact policy's clock for the pool of leads
    (default: the real time; a simulation passes its own). The run's control group
    ($BANK_SCORING_CONTROL_SHARE) is logged in the same transaction, so it is never listed.
    """
    profile = profile if profile is not None else RunProfile()
    control_share = selection_shares()[0]
    with engine.connect() as conn:
        run = run_row(conn, run_id)
    if run.status != "running":
        raise ScoringError(f"run {run_id} is {run.status}; only a running run can be published")
    with profile.timed("publish: check counts"):
        scored, rejected, suppressed = check_complete(engine, run_id)
    score_date = as_date(run.score_date)
    model = run_model(engine, run_id)
    night = backend.Night(score_date, run_id, run.model_version, scored, reason_rows, control_share)
    found: dict = {}

    def explain(best: list[int] | None) -> None:
        with profile.timed("publish: reasons, beside"):
            found["reasons"] = reason_rows_for(engine, night, model, best)
            found["drift"] = run_drift(engine, night, model)

    def finish(conn: Connection) -> None:
        write_reasons(conn, run_id, found["reasons"])
        drift, alert = found["drift"]
        conn.execute(
            text(
                "update scoring_runs set status = 'superseded' where score_date = :d "
                "and status = 'published' and run_id <> :r"
            ),
            {"d": score_date, "r": run_id},
        )
        now = utcnow()
        conn.execute(
            text(
                "update scoring_runs set status = 'published', published_at = :now, seconds = :secs, "
                "customers_total = :t, customers_scored = :s, customers_rejected = :j, customers_suppressed = :u, "
                "max_psi = :psi, drift_alert = :alert where run_id = :r"
            ),
            {
                "t": scored + rejected + suppressed,
                "s": scored,
                "u": suppressed,
                "j": rejected,
                "r": run_id,
                "now": now,
                "secs": (now - as_datetime(run.started_at)).total_seconds(),
                "psi": monitor.largest(drift),
                "alert": alert,
            },
        )
        conn.execute(text("delete from run_drift where run_id = :r"), {"r": run_id})
        if drift:
            conn.execute(
                text("insert into run_drift (run_id, feature, psi) values (:r, :f, :p)"),
                [{"r": run_id, "f": name, "p": value} for name, value in drift.items()],
            )

    backend.for_engine(engine).publish_night(engine, night, explain, finish, profile)
    log.info(
        "run %s published for %s: %s scored, %s rejected, %s suppressed (objected)",
        run_id,
        score_date,
        scored,
        rejected,
        suppressed,
    )
    agents_after_publish(engine, run_id, score_date, now, profile)
    return dataclasses.replace(get_run(engine, run_id), profile=profile)


def agents_after_publish(engine: Engine, run_id: int, score_date, now=None, profile: RunProfile | None = None) -> None:
    """Give the agents the new night: its pool of leads, and the policy's preview in the log.

    The pool is filled by the contact policy at ``now`` (default: the real time). The
    preview is taken at the opening of the score date's calling hours in the centre, when
    agents start on the list.
    """
    import datetime as dt
    from zoneinfo import ZoneInfo

    from bank_scoring.agents import policy, pool

    now = now or utcnow()
    profile = profile if profile is not None else RunProfile()
    try:
        with profile.timed("publish: fill the lead pool"):
            pool.refill(engine, run_id, now)
    except Exception:  # the night is published; agents keep the previous pool until a refill
        log.exception("run %s: the pool of leads was not refilled; run `bank-scoring agent refill`", run_id)
        return
    with engine.connect() as conn:
        rules = policy.load_rules(conn)
    opening = dt.datetime.combine(score_date, dt.time(rules.window_start_minute // 60, rules.window_start_minute % 60))
    opening_utc = opening.replace(tzinfo=ZoneInfo(rules.centre_time_zone)).astimezone(dt.UTC).replace(tzinfo=None)
    with profile.timed("publish: contact policy preview"):
        found = policy.preview(engine, max(now, opening_utc), run_id)
    log.info("contact policy, run %s:\n%s", run_id, policy.format_preview(found, rules))


def reason_rows_for(
    engine: Engine, night: backend.Night, model: ModelBundle, best: list[int] | None = None
) -> list[dict]:
    """score_reasons rows for the night's best-scored customers (nothing is written).

    Uses the run's own model and the score date's call month and day, so a reason is
    exactly what moved that customer's published score. ``best``, the run's customer ids
    best first when the backend has them, saves looking them up in the staging.
    """
    if best is None:
        with engine.connect() as conn:
            best = [
                int(r.customer_id)
                for r in conn.execute(
                    text(
                        "select customer_id from customer_scores_staging where run_id = :r "
                        "order by propensity desc, customer_id limit :n"
                    ),
                    {"r": night.run_id, "n": night.reason_rows},
                )
            ]
    ids = best[: night.reason_rows]
    if not ids:
        return []
    columns = ", ".join(("customer_id", *CUSTOMER_ATTRIBUTES))
    with engine.connect() as conn:
        customers = pd.read_sql_query(
            text(f"select {columns} from customers where customer_id in :ids").bindparams(
                bindparam("ids", expanding=True)
            ),
            conn,
            params={"ids": ids},
        )
    customers = customers.set_index("customer_id").loc[ids].reset_index()
    day = night.score_date
    reasons = reason_codes(model, counting_the_call(feature_frame(customers, month_name(day), day.day, day.year)))
    return [
        {"r": night.run_id, "c": cid, **dict(zip("abd", (*why, None, None, None)[:3], strict=True))}
        for cid, why in zip(ids, reasons, strict=True)
    ]


def write_reasons(conn: Connection, run_id: int, found: list[dict]) -> None:
    conn.execute(text("delete from score_reasons where run_id = :r"), {"r": run_id})
    if found:
        conn.execute(
            text(
                "insert into score_reasons (run_id, customer_id, reason_1, reason_2, reason_3) "
                "values (:r, :c, :a, :b, :d)"
            ),
            found,
        )
    log.info("run %s: reason codes for the top %s customers", run_id, len(found))


def run_drift(engine: Engine, night: backend.Night, model: ModelBundle) -> tuple[dict[str, float], str | None]:
    """PSI per feature and of the score for the run's partitions, and the alert if one drifted."""
    with engine.connect() as conn:
        parts = [
            json.loads(r[0])
            for r in conn.execute(
                text("select counts_json from scoring_profiles where run_id = :r"), {"r": night.run_id}
            )
        ]
    if not parts:  # no customer was scored
        return {}, None
    total: dict[str, list[int]] = {}
    for part in parts:
        monitor.add_counts(total, part)
    values = monitor.drift(night_profile(model, night.score_date), total)
    alert = monitor.alert(values)
    if alert:
        log.warning(
            "run %s for %s: %s (population stability index against model v%s's training data)",
            night.run_id,
            night.score_date,
            alert,
            night.model_version,
        )
    else:
        top = ", ".join(f"{k} {v:.3f}" for k, v in list(monitor.alerting(values).items())[:3])
        log.info("run %s: no drift above %s (largest: %s)", night.run_id, monitor.DRIFT_THRESHOLD, top)
    history = ", ".join(f"{k} {v:.2f}" for k, v in values.items() if k in monitor.CONTACT_HISTORY)
    log.info("run %s: contact history, set by the centre's own calls (not alerted): %s", night.run_id, history)
    return values, alert
