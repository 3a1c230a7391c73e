"""A scoring run's lifecycle: start, fail, read back and list.

A run is one row of ``scoring_runs``: 'running' while its partitions score, then
'published' (the night agents see), 'failed', or 'superseded' by a later run of the
same date.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, text

from bank_scoring import registry
from bank_scoring.db import as_date, next_id
from bank_scoring.scoring.profile import RunProfile

log = logging.getLogger(__name__)

# A run still 'running' after this long died with its process: its staging rows are removed.
STALE_RUN_HOURS = 6


class ScoringError(RuntimeError):
    """A scoring run cannot be completed; the previous published run stays visible."""


@dataclass(frozen=True)
class RunSummary:
    run_id: int
    score_date: dt.date
    model_version: int
    status: str
    partitions: int
    customers_total: int | None
    customers_scored: int | None
    customers_rejected: int | None
    seconds: float | None
    error: str | None = None
    max_psi: float | None = None
    drift_alert: str | None = None
    customers_suppressed: int | None = None
    # Where the time went, when this process ran the run (score_customers, publish_run).
    profile: RunProfile | None = field(default=None, compare=False)


def resolve_score_date(requested, run_date) -> dt.date:
    """The date a run scores: the one asked for, else the run's own date (never today's clock)."""
    if requested:
        try:
            return dt.date.fromisoformat(str(requested))
        except ValueError:
            raise ValueError(f"score_date must be YYYY-MM-DD, got {requested!r}") from None
    if run_date is None:
        raise ValueError("a score date is needed: the run has no logical date and none was given")
    day = run_date.date() if isinstance(run_date, dt.datetime) else run_date
    return dt.date(day.year, day.month, day.day)  # a plain date, not pendulum's subclass


def start_run(engine: Engine, score_date: dt.date, partitions: int = 1, model_version: int | None = None) -> int:
    """Register a running run for ``score_date`` with the champion (or a chosen version).

    The artifact is checked here, before anything is written, so a tampered or missing
    model fails the night at once. A run of the same date left 'running' by a crash is
    marked failed and its staging rows removed.
    """
    if partitions < 1:
        raise ValueError("partitions must be at least 1")
    version = registry.get_version(engine, model_version) if model_version else registry.require_champion(engine)
    registry.verify_artifact(version)  # raises ModelIntegrityError; loading is the partitions' job
    with engine.begin() as conn:
        stale = conn.execute(
            text(
                "select run_id, score_date from scoring_runs where status = 'running' "
                "and (score_date = :d or started_at < :cutoff)"
            ),
            {"d": score_date, "cutoff": utcnow() - dt.timedelta(hours=STALE_RUN_HOURS)},
        ).all()
        for old in stale:
            discard_staging(conn, old.run_id)
            why = (
                "a new run of the same date started"
                if as_date(old.score_date) == score_date
                else f"still running after {STALE_RUN_HOURS} hours"
            )
            conn.execute(
                text("update scoring_runs set status = 'failed', error = :e where run_id = :r"),
                {"r": old.run_id, "e": f"abandoned: {why}"},
            )
            log.warning("run %s of %s marked failed: %s", old.run_id, old.score_date, why)
        run_id = next_id(conn, "scoring_runs", "run_id")
        conn.execute(
            text(
                "insert into scoring_runs (run_id, score_date, model_version, status, partitions, "
                "started_at) values (:r, :d, :v, 'running', :p, :now)"
            ),
            {"r": run_id, "d": score_date, "v": version.model_version, "p": partitions, "now": utcnow()},
        )
    log.info(
        "run %s: scoring %s with model v%s in %s partition(s)", run_id, score_date, version.model_version, partitions
    )
    return run_id


def discard_staging(conn: Connection, run_id: int) -> None:
    conn.execute(text("delete from customer_scores_staging where run_id = :r"), {"r": run_id})


def mark_failed(engine: Engine, run_id: int, error: str) -> None:
    """Record a failure and drop the run's staging rows; published runs are untouched."""
    with engine.begin() as conn:
        conn.execute(
            text("update scoring_runs set status = 'failed', error = :e where run_id = :r and status = 'running'"),
            {"e": error[:2000], "r": run_id},
        )
        discard_staging(conn, run_id)


_RUN_COLUMNS = (
    "run_id, score_date, model_version, status, partitions, customers_total, customers_scored, "
    "customers_rejected, seconds, error, started_at, max_psi, drift_alert, customers_suppressed"
)


def run_row(conn: Connection, run_id: int):
    """The run's row (with ``started_at``), or ScoringError when there is none."""
    row = conn.execute(text(f"select {_RUN_COLUMNS} from scoring_runs where run_id = :r"), {"r": run_id}).first()
    if row is None:
        raise ScoringError(f"scoring run {run_id} does not exist")
    return row


def _summary(row) -> RunSummary:
    return RunSummary(
        row.run_id,
        as_date(row.score_date),
        row.model_version,
        row.status,
        row.partitions,
        row.customers_total,
        row.customers_scored,
        row.customers_rejected,
        row.seconds,
        row.error,
        row.max_psi,
        row.drift_alert,
        customers_suppressed=row.customers_suppressed,
    )


def get_run(engine: Engine, run_id: int) -> RunSummary:
    with engine.connect() as conn:
        return _summary(run_row(conn, run_id))


def list_runs(engine: Engine, limit: int = 20) -> list[RunSummary]:
    """The most recent runs, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(f"select {_RUN_COLUMNS} from scoring_runs order by run_id desc limit :n"), {"n": limit}
        ).all()
    return [_summary(r) for r in rows]


def latest_published_run(engine: Engine, score_date: dt.date | None = None) -> RunSummary | None:
    """The published run agents see for ``score_date`` (default: the latest date), or None."""
    where = "status = 'published'" + (" and score_date = :d" if score_date else "")
    with engine.connect() as conn:
        row = conn.execute(
            text(
                f"select {_RUN_COLUMNS} from scoring_runs where {where} order by score_date desc, run_id desc limit 1"
            ),
            {"d": score_date} if score_date else {},
        ).first()
    return _summary(row) if row else None


def list_rejects(engine: Engine, run_id: int | None = None, limit: int = 50) -> tuple[int | None, list[tuple]]:
    """The customers a run could not score, with the reason: (the run's id, [(customer_id, reason)]).

    Without ``run_id``, the latest run; (None, []) when there is no run at all.
    """
    with engine.connect() as conn:
        if run_id is None:
            run_id = conn.execute(text("select max(run_id) from scoring_runs")).scalar()
            if run_id is None:
                return None, []
        rows = conn.execute(
            text("select customer_id, reason from scoring_rejects where run_id = :r order by customer_id limit :n"),
            {"r": run_id, "n": limit},
        ).all()
    return int(run_id), [(int(r.customer_id), r.reason) for r in rows]


def utcnow() -> dt.datetime:
    """Timestamps are stored as naive UTC on both databases."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def as_datetime(value) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    return dt.datetime.fromisoformat(str(value))
