"""Nightly scoring: every customer gets a propensity for the score date, or a reject reason.

A run has three steps that the CLI calls in one process and the nightly DAG calls as
separate tasks: :func:`start_run`, :func:`score_partition` for each customer-id range
(idempotent, so a retried partition never duplicates), and :func:`publish_run`, which
moves the complete run into ``customer_scores`` in one transaction. Agents never see a
half-written run: until publish, the previous published run stays in the worklist.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine, text

from bank_scoring import registry
from bank_scoring.db import as_date, next_id
from bank_scoring.features import CUSTOMER_ATTRIBUTES, feature_frame, month_name
from bank_scoring.validate import customer_reject_reasons

log = logging.getLogger(__name__)

# A run still 'running' after this long died with its process: its staging rows are removed.
STALE_RUN_HOURS = 6

# Share of the day's ranked customers in each band, best first.
BANDS = (("A", 0.10), ("B", 0.20), ("C", 0.30), ("D", 0.40))


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
        stale = conn.execute(text(
            "select run_id, score_date from scoring_runs where status = 'running' "
            "and (score_date = :d or started_at < :cutoff)"),
            {"d": score_date, "cutoff": _utcnow() - dt.timedelta(hours=STALE_RUN_HOURS)}).all()
        for old in stale:
            _discard_staging(conn, old.run_id)
            why = ("a new run of the same date started" if as_date(old.score_date) == score_date
                   else f"still running after {STALE_RUN_HOURS} hours")
            conn.execute(text("update scoring_runs set status = 'failed', error = :e where run_id = :r"),
                         {"r": old.run_id, "e": f"abandoned: {why}"})
            log.warning("run %s of %s marked failed: %s", old.run_id, old.score_date, why)
        run_id = next_id(conn, "scoring_runs", "run_id")
        conn.execute(text("insert into scoring_runs (run_id, score_date, model_version, status, partitions, "
                          "started_at) values (:r, :d, :v, 'running', :p, :now)"),
                     {"r": run_id, "d": score_date, "v": version.model_version, "p": partitions, "now": _utcnow()})
    log.info("run %s: scoring %s with model v%s in %s partition(s)", run_id, score_date, version.model_version,
             partitions)
    return run_id


def _discard_staging(conn, run_id: int) -> None:
    conn.execute(text("delete from customer_scores_staging where run_id = :r"), {"r": run_id})


def plan_partitions(engine: Engine, partitions: int) -> list[tuple[int, int]]:
    """Split customers into at most ``partitions`` contiguous id ranges of near-equal size."""
    if partitions < 1:
        raise ValueError("partitions must be at least 1")
    with engine.connect() as conn:
        rows = conn.execute(text(
            "select min(customer_id) as lo, max(customer_id) as hi from ("
            "  select customer_id, ntile(:n) over (order by customer_id) as part from customers"
            ") as numbered group by part order by lo"), {"n": partitions}).all()
    return [(int(r.lo), int(r.hi)) for r in rows]


def _run_row(conn, run_id: int):
    row = conn.execute(text("select run_id, score_date, model_version, status, partitions, customers_total, "
                            "customers_scored, customers_rejected, seconds, error, started_at "
                            "from scoring_runs where run_id = :r"), {"r": run_id}).first()
    if row is None:
        raise ScoringError(f"scoring run {run_id} does not exist")
    return row


def score_partition(engine: Engine, run_id: int, low: int, high: int, chunk_rows: int = 50_000,
                    model=None) -> dict[str, int]:
    """Score customers with ids in [low, high] for a running run; safe to retry.

    Reads the customers in id order, ``chunk_rows`` at a time (never the whole table),
    and first removes whatever an earlier attempt of this range wrote.
    """
    with engine.connect() as conn:
        run = _run_row(conn, run_id)
    if run.status != "running":
        raise ScoringError(f"run {run_id} is {run.status}, not running: start a new run for {run.score_date}")
    score_date = as_date(run.score_date)
    if model is None:
        model = registry.load_model(registry.get_version(engine, run.model_version))
    month = month_name(score_date)
    columns = ", ".join(("customer_id", *CUSTOMER_ATTRIBUTES))
    with engine.begin() as conn:
        bounds = {"r": run_id, "lo": low, "hi": high}
        conn.execute(text("delete from customer_scores_staging where run_id = :r and customer_id between :lo and :hi"),
                     bounds)
        conn.execute(text("delete from scoring_rejects where run_id = :r and customer_id between :lo and :hi"),
                     bounds)
    scored = rejected = 0
    last = low - 1
    while True:
        with engine.connect() as conn:
            chunk = pd.read_sql_query(
                text(f"select {columns} from customers where customer_id > :last and customer_id <= :hi "
                     "order by customer_id limit :n"), conn, params={"last": last, "hi": high, "n": chunk_rows})
        if chunk.empty:
            break
        last = int(chunk["customer_id"].iloc[-1])
        reasons = customer_reject_reasons(chunk)
        good = reasons == ""
        ok = chunk[good]
        propensity = model.predict_proba(feature_frame(ok, month))[:, 1] if len(ok) else []
        with engine.begin() as conn:
            if len(ok):
                rows = [{"r": run_id, "c": int(c), "p": float(p)}
                        for c, p in zip(ok["customer_id"], propensity, strict=True)]
                conn.execute(text("insert into customer_scores_staging (run_id, customer_id, propensity) "
                                  "values (:r, :c, :p)"), rows)
            bad = chunk.loc[~good, "customer_id"]
            if len(bad):
                conn.execute(text("insert into scoring_rejects (run_id, customer_id, score_date, reason) "
                                  "values (:r, :c, :d, :reason)"),
                             [{"r": run_id, "c": int(c), "d": score_date, "reason": reasons[i]}
                              for i, c in bad.items()])
        scored += len(ok)
        rejected += int((~good).sum())
        log.info("run %s partition %s-%s: %s scored, %s rejected so far", run_id, low, high, scored, rejected)
    return {"scored": scored, "rejected": rejected}


def publish_run(engine: Engine, run_id: int) -> RunSummary:
    """Make a complete run the one agents see, in one transaction.

    Refuses (and marks the run failed) when any customer is neither scored nor rejected,
    so nobody is silently left off. Replaces the date's earlier published scores.
    """
    with engine.begin() as conn:
        run = _run_row(conn, run_id)
        if run.status != "running":
            raise ScoringError(f"run {run_id} is {run.status}; only a running run can be published")
        missing = conn.execute(text(
            "select count(*) from customers c where not exists (select 1 from customer_scores_staging s "
            "where s.run_id = :r and s.customer_id = c.customer_id) and not exists (select 1 from scoring_rejects j "
            "where j.run_id = :r and j.customer_id = c.customer_id)"), {"r": run_id}).scalar_one()
        scored = conn.execute(text("select count(*) from customer_scores_staging where run_id = :r"),
                              {"r": run_id}).scalar_one()
        rejected = conn.execute(text("select count(*) from scoring_rejects where run_id = :r"),
                                {"r": run_id}).scalar_one()
    if missing:
        error = (f"{missing} customers were neither scored nor rejected "
                 "(added during the run, or a partition did not run)")
        mark_failed(engine, run_id, error)
        raise ScoringError(f"run {run_id}: {error}; nothing was published")
    cut = _band_cuts(scored)
    with engine.begin() as conn:
        score_date = as_date(run.score_date)
        conn.execute(text("delete from customer_scores where score_date = :d"), {"d": score_date})
        conn.execute(text(
            "insert into customer_scores (score_date, customer_id, run_id, model_version, propensity, rank, band) "
            "select :d, customer_id, :r, :v, propensity, rnk, "
            "case when rnk <= :a then 'A' when rnk <= :b then 'B' when rnk <= :c then 'C' else 'D' end "
            "from (select customer_id, propensity, row_number() over (order by propensity desc, customer_id) as rnk "
            "from customer_scores_staging where run_id = :r) as ranked"),
            {"d": score_date, "r": run_id, "v": run.model_version, "a": cut[0], "b": cut[1], "c": cut[2]})
        conn.execute(text("update scoring_runs set status = 'superseded' where score_date = :d "
                          "and status = 'published' and run_id <> :r"), {"d": score_date, "r": run_id})
        now = _utcnow()
        conn.execute(text("update scoring_runs set status = 'published', published_at = :now, seconds = :secs, "
                          "customers_total = :t, customers_scored = :s, customers_rejected = :j where run_id = :r"),
                     {"t": scored + rejected, "s": scored, "j": rejected, "r": run_id, "now": now,
                      "secs": (now - _as_datetime(run.started_at)).total_seconds()})
        _discard_staging(conn, run_id)
    log.info("run %s published for %s: %s scored, %s rejected", run_id, score_date, scored, rejected)
    return get_run(engine, run_id)


def _utcnow() -> dt.datetime:
    """Timestamps are stored as naive UTC on both databases."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _as_datetime(value) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    return dt.datetime.fromisoformat(str(value))


def _band_cuts(n: int) -> tuple[int, int, int]:
    edges, total = [], 0.0
    for _, share in BANDS[:-1]:
        total += share
        edges.append(math.ceil(n * total - 1e-9))
    return tuple(edges)  # type: ignore[return-value]


def mark_failed(engine: Engine, run_id: int, error: str) -> None:
    """Record a failure and drop the run's staging rows; published runs are untouched."""
    with engine.begin() as conn:
        conn.execute(text("update scoring_runs set status = 'failed', error = :e where run_id = :r "
                          "and status = 'running'"), {"e": error[:2000], "r": run_id})
        _discard_staging(conn, run_id)


def get_run(engine: Engine, run_id: int) -> RunSummary:
    with engine.connect() as conn:
        row = _run_row(conn, run_id)
    return RunSummary(row.run_id, as_date(row.score_date), row.model_version, row.status, row.partitions,
                      row.customers_total, row.customers_scored, row.customers_rejected, row.seconds, row.error)


def list_runs(engine: Engine, limit: int = 20) -> list[RunSummary]:
    with engine.connect() as conn:
        ids = [r[0] for r in conn.execute(text("select run_id from scoring_runs order by run_id desc limit :n"),
                                          {"n": limit})]
    return [get_run(engine, i) for i in ids]


def score_customers(engine: Engine, score_date: dt.date, partitions: int = 1, chunk_rows: int = 50_000,
                    model_version: int | None = None, progress=None) -> RunSummary:
    """Score every customer for ``score_date`` in this process and publish the run."""
    run_id = start_run(engine, score_date, partitions, model_version)
    try:
        version = registry.get_version(engine, get_run(engine, run_id).model_version)
        model = registry.load_model(version)
        ranges = plan_partitions(engine, partitions)
        for number, (low, high) in enumerate(ranges, start=1):
            counts = score_partition(engine, run_id, low, high, chunk_rows, model=model)
            if progress:
                progress(number, len(ranges), counts)
        publish_run(engine, run_id)
    except Exception as exc:
        mark_failed(engine, run_id, f"{type(exc).__name__}: {exc}")
        raise
    return get_run(engine, run_id)
