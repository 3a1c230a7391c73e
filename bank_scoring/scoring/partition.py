"""Planning a run's customer-id ranges and scoring one range.

A range is scored in chunks read in id order (never the whole table: memory stays flat
whatever the table size), with features built on whole columns and each chunk's scores
written in one statement. A range can be retried: it first removes what an earlier
attempt wrote.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time

import numpy as np
from sqlalchemy import Engine, text

from bank_scoring import monitor, registry
from bank_scoring.config import DEFAULT_CHUNK_ROWS
from bank_scoring.db import as_date
from bank_scoring.features import counting_the_call, feature_frame, month_name
from bank_scoring.model_bundle import ModelBundle
from bank_scoring.scoring import backend
from bank_scoring.scoring.runs import ScoringError, get_run, run_row
from bank_scoring.validate import customer_reject_reasons

log = logging.getLogger(__name__)


def plan_partitions(engine: Engine, partitions: int) -> list[tuple[int, int]]:
    """Split customers into at most ``partitions`` contiguous id ranges of near-equal size.

    The ranges cover every id from the smallest to the largest, so a customer is in
    exactly one range whatever the cut points.
    """
    if partitions < 1:
        raise ValueError("partitions must be at least 1")
    with engine.connect() as conn:
        low, high = conn.execute(text("select min(customer_id), max(customer_id) from customers")).one()
        if low is None:
            return []
        if partitions == 1:
            return [(int(low), int(high))]
        cuts = backend.for_engine(engine).partition_cuts(conn, partitions)
    ranges, start = [], int(low)
    for cut in sorted(set(cuts)):
        if start <= cut < high:
            ranges.append((start, cut))
            start = cut + 1
    ranges.append((start, int(high)))
    return ranges


def run_model(engine: Engine, run_id: int) -> ModelBundle:
    """The model a run scores with, loaded (and its artifact hash checked)."""
    return registry.load_model(registry.get_version(engine, get_run(engine, run_id).model_version))


def night_profile(model: ModelBundle, score_date: dt.date) -> dict:
    """The model's training profile plus tonight's score reference.

    The score reference is the model's training sample scored with tonight's call date;
    it is the same in every partition of the night, so the partitions' counts add up.
    """
    if score_date not in model.night_cache:
        tonight = model.reference_sample.assign(
            contact_month=month_name(score_date), contact_day=float(score_date.day), contact_year=float(score_date.year)
        )
        scores = model.predict(tonight)
        model.night_cache[score_date] = {**model.training_profile, monitor.SCORE: monitor.score_profile(scores)}
    return model.night_cache[score_date]


def score_partition(
    engine: Engine,
    run_id: int,
    low: int,
    high: int,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    model: ModelBundle | None = None,
) -> dict[str, int]:
    """Score customers with ids in [low, high] for a running run; safe to retry.

    Returns the counts (``scored``, ``rejected``) and this process's seconds per step
    (``<step>_seconds``). Rejected customers get a row in ``scoring_rejects`` with the
    reason; the drift counts of the range go to ``scoring_profiles``.
    """
    with engine.connect() as conn:
        run = run_row(conn, run_id)
    if run.status != "running":
        raise ScoringError(f"run {run_id} is {run.status}, not running: start a new run for {run.score_date}")
    score_date = as_date(run.score_date)
    if model is None:
        model = run_model(engine, run_id)
    db = backend.for_engine(engine)
    month = month_name(score_date)
    with engine.begin() as conn:
        bounds = {"r": run_id, "lo": low, "hi": high}
        conn.execute(
            text("delete from customer_scores_staging where run_id = :r and customer_id between :lo and :hi"), bounds
        )
        conn.execute(text("delete from scoring_rejects where run_id = :r and customer_id between :lo and :hi"), bounds)
        conn.execute(text("delete from scoring_profiles where run_id = :r and low_id between :lo and :hi"), bounds)
    profile = night_profile(model, score_date)
    counts: dict[str, list[int]] = {}
    scored = rejected = 0
    seconds = {"read": 0.0, "validate": 0.0, "predict": 0.0, "monitor": 0.0, "write": 0.0}
    last = low - 1
    while True:
        clock = time.perf_counter()
        with engine.connect() as conn:
            chunk = db.read_chunk(conn, last, high, chunk_rows)
        seconds["read"] += time.perf_counter() - clock
        if chunk.empty:
            break
        last = int(chunk["customer_id"].max())
        clock = time.perf_counter()
        reasons = customer_reject_reasons(chunk)
        good = (reasons == "").to_numpy()
        ok = chunk[good] if not good.all() else chunk
        ids = ok["customer_id"].to_numpy(dtype="int64")
        seconds["validate"] += time.perf_counter() - clock
        clock = time.perf_counter()
        features = feature_frame(ok, month, score_date.day, score_date.year)
        # Scored as tonight's call; drift compares the stored attributes with the loaded ones.
        propensity = model.predict(counting_the_call(features)) if len(ok) else np.empty(0)
        seconds["predict"] += time.perf_counter() - clock
        clock = time.perf_counter()
        if len(ok):
            monitor.add_counts(counts, monitor.count_chunk(profile, features, propensity))
        seconds["monitor"] += time.perf_counter() - clock
        clock = time.perf_counter()
        with engine.begin() as conn:
            if len(ok):
                db.write_scores(conn, run_id, ids, propensity)
            if not good.all():
                bad = chunk.loc[~good, "customer_id"]
                conn.execute(
                    text(
                        "insert into scoring_rejects (run_id, customer_id, score_date, reason) "
                        "values (:r, :c, :d, :reason)"
                    ),
                    [{"r": run_id, "c": int(c), "d": score_date, "reason": reasons[i]} for i, c in bad.items()],
                )
        seconds["write"] += time.perf_counter() - clock
        scored += len(ok)
        rejected += int((~good).sum())
        log.info("run %s partition %s-%s: %s scored, %s rejected so far", run_id, low, high, scored, rejected)
    with engine.begin() as conn:
        conn.execute(
            text("insert into scoring_profiles (run_id, low_id, high_id, counts_json) values (:r, :lo, :hi, :c)"),
            {"r": run_id, "lo": low, "hi": high, "c": json.dumps(counts)},
        )
    return {"scored": scored, "rejected": rejected, **{f"{k}_seconds": round(v, 3) for k, v in seconds.items()}}
