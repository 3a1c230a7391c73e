"""A whole night in one call: start, score every range (in several processes), publish.

The same steps the nightly DAG runs as separate tasks. With ``workers`` > 1 that many
processes score ranges at once, this one included (as mapped tasks do under Airflow),
each with its own database connection and one prediction thread, so the cores are
shared rather than oversubscribed.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import threading
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from concurrent.futures import wait as wait_for

from sqlalchemy import Engine

from bank_scoring.config import DEFAULT_CHUNK_ROWS, DEFAULT_REASON_ROWS
from bank_scoring.scoring.partition import plan_partitions, run_model, score_partition
from bank_scoring.scoring.profile import RunProfile, peak_rss_bytes
from bank_scoring.scoring.publish import publish_run
from bank_scoring.scoring.runs import RunSummary, mark_failed, start_run


def score_customers(
    engine: Engine,
    score_date: dt.date,
    partitions: int = 1,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    model_version: int | None = None,
    progress=None,
    workers: int = 1,
    reason_rows: int = DEFAULT_REASON_ROWS,
    now: dt.datetime | None = None,
) -> RunSummary:
    """Score every customer for ``score_date`` and publish the run (its pool of leads filled
    by the contact policy at ``now``, default the real time).

    ``progress(done, total, counts)`` is called after each range. The returned summary's
    ``profile`` says where the time went. On any failure the run is marked failed and
    the previous published night stays.
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    profile = RunProfile()
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        profile.add(name, now - clock)
        clock = now

    run_id = start_run(engine, score_date, partitions, model_version)
    try:
        lap("start_run")
        ranges = plan_partitions(engine, partitions)
        lap("plan_partitions")
        if workers > 1 and len(ranges) > 1:
            _score_in_workers(engine, run_id, ranges, chunk_rows, workers, progress, profile)
        else:
            model = run_model(engine, run_id)
            for number, (low, high) in enumerate(ranges, start=1):
                counts = score_partition(engine, run_id, low, high, chunk_rows, model=model)
                profile.add_partition(counts)
                if progress:
                    progress(number, len(ranges), counts)
        lap("score_partitions")
        summary = publish_run(engine, run_id, profile=profile, reason_rows=reason_rows, now=now)
        lap("publish")
    except Exception as exc:
        mark_failed(engine, run_id, f"{type(exc).__name__}: {exc}")
        raise
    return summary


def _score_in_workers(
    engine: Engine, run_id: int, ranges, chunk_rows: int, workers: int, progress, profile: RunProfile
) -> None:
    """Score the ranges in this process and in ``workers - 1`` spawned processes at once.

    Each process takes the next range when it has finished one. This process loads the
    model and starts at once, while a spawned one first imports the package; the spawned
    processes start fresh, with no inherited connections or threads. After a failure no
    new range is started, and the first error is raised once the running ranges have ended.
    """
    from threadpoolctl import threadpool_limits

    url = engine.url.render_as_string(hide_password=False)
    helpers = min(workers, len(ranges)) - 1
    pending = deque(ranges)
    lock = threading.Lock()
    done = 0
    peaks: dict[int, int] = {}

    def take():
        with lock:
            return pending.popleft() if pending else None

    def finished(counts: dict) -> None:
        nonlocal done
        with lock:
            profile.add_partition(counts)
            done += 1
            if progress:
                progress(done, len(ranges), counts)

    def here() -> None:  # this process, one prediction thread (OpenMP's limit is per calling thread)
        model = run_model(engine, run_id)
        with threadpool_limits(1):
            while (part := take()) is not None:
                finished(score_partition(engine, run_id, *part, chunk_rows, model=model))

    def there() -> None:  # one spawned process
        while (part := take()) is not None:
            counts, pid, peak = pool.submit(_worker_score, *part, chunk_rows).result()
            with lock:
                peaks[pid] = max(peak, peaks.get(pid, 0))
            finished(counts)

    context = multiprocessing.get_context("spawn")
    with (
        ProcessPoolExecutor(
            max_workers=helpers, mp_context=context, initializer=_worker_init, initargs=(url, run_id)
        ) as pool,
        ThreadPoolExecutor(helpers + 1) as slots,
    ):
        started = [slots.submit(there) for _ in range(helpers)] + [slots.submit(here)]
        try:
            for future in as_completed(started):
                future.result()
        finally:
            with lock:
                pending.clear()  # after a failure the other slots start nothing new
            wait_for(started)
    profile.worker_peaks[:] = list(peaks.values())


# A spawned worker's engine, run and model, set once by its initializer.
_worker_state: dict = {}


def _worker_init(url: str, run_id: int) -> None:
    from threadpoolctl import threadpool_limits

    from bank_scoring.db import make_db_engine

    threadpool_limits(1)
    engine = make_db_engine(url)
    _worker_state.update(engine=engine, run_id=run_id, model=run_model(engine, run_id))


def _worker_score(low: int, high: int, chunk_rows: int) -> tuple[dict[str, int], int, int]:
    counts = score_partition(
        _worker_state["engine"], _worker_state["run_id"], low, high, chunk_rows, model=_worker_state["model"]
    )
    return counts, os.getpid(), peak_rss_bytes()
