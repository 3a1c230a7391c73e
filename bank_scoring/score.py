"""Nightly scoring: every customer gets a propensity for the score date, or a reject reason.

A run has three steps that the CLI calls in one process and the nightly DAG calls as
separate tasks: :func:`start_run`, :func:`score_partition` for each customer-id range
(idempotent, so a retried partition never duplicates), and :func:`publish_run`, which
moves the complete run into ``customer_scores`` in one transaction. Agents never see a
half-written run: until publish, the previous published run stays in the worklist.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import math
import multiprocessing
import os
import resource
import select
import sqlite3
import struct
import threading
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from concurrent.futures import wait as wait_for
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text

from bank_scoring import monitor, registry
from bank_scoring.config import DEFAULT_CHUNK_ROWS, DEFAULT_REASON_ROWS
from bank_scoring.db import as_date, next_id
from bank_scoring.features import BOOLEAN, CATEGORICAL, CUSTOMER_ATTRIBUTES, feature_frame, model_columns, month_name
from bank_scoring.validate import customer_reject_reasons

log = logging.getLogger(__name__)

# A run still 'running' after this long died with its process: its staging rows are removed.
STALE_RUN_HOURS = 6
# SQLite's page cache while publish inserts the night (its default is 2 MB).
SQLITE_PUBLISH_CACHE_KB = 65536

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
    max_psi: float | None = None
    drift_alert: str | None = None


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
    """Split customers into at most ``partitions`` contiguous id ranges of near-equal size.

    The ranges cover every id from the smallest to the largest, so a customer is in
    exactly one range whatever the cut points. On PostgreSQL the cut points come from a
    sample of the table's pages (a window over ten million ids took seconds); on SQLite
    from walking the primary key to every n-th id.
    """
    if partitions < 1:
        raise ValueError("partitions must be at least 1")
    with engine.connect() as conn:
        low, high, = conn.execute(text("select min(customer_id), max(customer_id) from customers")).one()
        if low is None:
            return []
        if partitions == 1:
            return [(int(low), int(high))]
        if engine.dialect.name == "postgresql":
            estimate = conn.execute(text("select reltuples from pg_class where oid = 'customers'::regclass")).scalar()
            percent = 100.0 if not estimate or estimate < 400_000 else max(0.5, 100.0 * 200_000 / estimate)
            cuts = conn.execute(text(
                "select percentile_disc(:q) within group (order by customer_id) from customers "
                "tablesample system (:pct) repeatable (42)"),
                {"q": [i / partitions for i in range(1, partitions)], "pct": percent}).scalar()
            cuts = [int(c) for c in (cuts or []) if c is not None]
        else:
            # Walk the primary key to each cut (a window over every id took 2 s at 1M).
            total = conn.execute(text("select count(*) from customers")).scalar_one()
            cuts = []
            for i in range(1, partitions):
                cut = conn.execute(text("select customer_id from customers order by customer_id limit 1 offset :k"),
                                   {"k": max(0, total * i // partitions - 1)}).scalar()
                if cut is not None:
                    cuts.append(int(cut))
    ranges, start = [], int(low)
    for cut in sorted(set(cuts)):
        if start <= cut < high:
            ranges.append((start, cut))
            start = cut + 1
    ranges.append((start, int(high)))
    return ranges


def _run_row(conn, run_id: int):
    row = conn.execute(text("select run_id, score_date, model_version, status, partitions, customers_total, "
                            "customers_scored, customers_rejected, seconds, error, started_at, max_psi, drift_alert "
                            "from scoring_runs where run_id = :r"), {"r": run_id}).first()
    if row is None:
        raise ScoringError(f"scoring run {run_id} does not exist")
    return row


def score_partition(engine: Engine, run_id: int, low: int, high: int, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                    model=None) -> dict[str, int]:
    """Score customers with ids in [low, high] for a running run; safe to retry.

    Reads the customers in id order, ``chunk_rows`` at a time (never the whole table:
    memory stays flat whatever the table size), builds features on whole columns, and
    writes each chunk's scores in one statement (binary COPY on PostgreSQL). First
    removes whatever an earlier attempt of this range wrote.
    """
    with engine.connect() as conn:
        run = _run_row(conn, run_id)
    if run.status != "running":
        raise ScoringError(f"run {run_id} is {run.status}, not running: start a new run for {run.score_date}")
    score_date = as_date(run.score_date)
    if model is None:
        model = registry.load_model(registry.get_version(engine, run.model_version))
    month = month_name(score_date)
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        bounds = {"r": run_id, "lo": low, "hi": high}
        conn.execute(text("delete from customer_scores_staging where run_id = :r and customer_id between :lo and :hi"),
                     bounds)
        conn.execute(text("delete from scoring_rejects where run_id = :r and customer_id between :lo and :hi"),
                     bounds)
        conn.execute(text("delete from scoring_profiles where run_id = :r and low_id between :lo and :hi"), bounds)
    profile = night_profile(model, score_date)
    counts: dict[str, list[int]] = {}
    scored = rejected = 0
    seconds = {"read": 0.0, "validate": 0.0, "predict": 0.0, "monitor": 0.0, "write": 0.0}
    last = low - 1
    while True:
        clock = time.perf_counter()
        with engine.connect() as conn:
            chunk = (_read_chunk_pg if postgres else _read_chunk_sqlite)(conn, last, high, chunk_rows)
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
        propensity = model.predict_proba(model_columns(model, features))[:, 1] if len(ok) else np.empty(0)
        seconds["predict"] += time.perf_counter() - clock
        clock = time.perf_counter()
        if profile and len(ok):
            monitor.add_counts(counts, monitor.count_chunk(profile, features, propensity))
        seconds["monitor"] += time.perf_counter() - clock
        clock = time.perf_counter()
        with engine.begin() as conn:
            if len(ok):
                (_write_scores_pg if postgres else _write_scores_sqlite)(conn, run_id, ids, propensity)
            if not good.all():
                bad = chunk.loc[~good, "customer_id"]
                conn.execute(text("insert into scoring_rejects (run_id, customer_id, score_date, reason) "
                                  "values (:r, :c, :d, :reason)"),
                             [{"r": run_id, "c": int(c), "d": score_date, "reason": reasons[i]}
                              for i, c in bad.items()])
        seconds["write"] += time.perf_counter() - clock
        scored += len(ok)
        rejected += int((~good).sum())
        log.info("run %s partition %s-%s: %s scored, %s rejected so far", run_id, low, high, scored, rejected)
    if profile:
        with engine.begin() as conn:
            conn.execute(text("insert into scoring_profiles (run_id, low_id, high_id, counts_json) "
                              "values (:r, :lo, :hi, :c)"), {"r": run_id, "lo": low, "hi": high,
                                                             "c": json.dumps(counts)})
    return {"scored": scored, "rejected": rejected, **{f"{k}_seconds": round(v, 3) for k, v in seconds.items()}}


_CHUNK_SQL = ("select customer_id, {columns} from customers where customer_id > {last} "
              "and customer_id <= {high} order by customer_id limit {n}")
# Column types of a chunk as the model and the validation expect them: text columns are
# categorical (each distinct value is then looked at once by the validation, the category
# codes and the drift counts: about 0.6 s less CPU per 1M customers), 'NA' is a
# value, not a missing one, and only an empty field is NULL.
_TEXT_COLUMNS = tuple(c for c in CUSTOMER_ATTRIBUTES if c in CATEGORICAL)
_PG_FLAGS = {"t": True, "f": False}


def night_profile(model, score_date: dt.date) -> dict | None:
    """The model's training profile plus tonight's score reference (None for older models).

    The score reference is the model's training sample scored with tonight's call date;
    it is the same in every partition of the night, so the partitions' counts add up.
    """
    profile = getattr(model, "training_profile_", None)
    sample = getattr(model, "reference_sample_", None)
    if profile is None or sample is None:
        return None
    cache = model.__dict__.setdefault("_night_profiles", {})
    if score_date not in cache:
        tonight = sample.assign(contact_month=month_name(score_date), contact_day=float(score_date.day),
                                contact_year=float(score_date.year))
        scores = model.predict_proba(model_columns(model, tonight))[:, 1]
        cache[score_date] = {**profile, monitor.SCORE: monitor.score_profile(scores)}
    return cache[score_date]


def _copy_out(dbapi_conn, query: str, params, sink) -> None:
    """Run ``COPY (query) TO STDOUT ...`` and hand each row's bytes to ``sink``, one libpq call per row.

    The server sends one message per row, and psycopg's Copy iterator goes five Python
    calls deep for each; here each row costs one call into libpq (psycopg's C binding) and
    one to ``sink``. Reading 1M customers in 50,000-row chunks took 1.47 s of this
    process's CPU through the iterator, 1.00 s here. The statement is bound client-side
    (COPY takes no server parameters) and runs in the connection's current transaction,
    if any.
    """
    import psycopg
    from psycopg import pq

    statement = psycopg.ClientCursor(dbapi_conn).mogrify(query, params).encode(dbapi_conn.info.encoding)
    pgconn = dbapi_conn.pgconn

    def wait(write: bool = False) -> None:
        if write:
            select.select([], [pgconn.socket], [])
        else:
            select.select([pgconn.socket], [], [])
            pgconn.consume_input()

    def result():
        while pgconn.is_busy():
            wait()
        return pgconn.get_result()

    def fail(res):
        while result() is not None:  # the connection is idle again before the error is raised
            pass
        raise psycopg.errors.error_from_result(res, encoding=dbapi_conn.info.encoding)

    pgconn.send_query(statement)
    while pgconn.flush():
        wait(write=True)
    res = result()
    if res.status != pq.ExecStatus.COPY_OUT:
        fail(res)
    get = pgconn.get_copy_data
    try:
        while True:
            nbytes, data = get(1)
            if nbytes > 0:
                sink(data)
            elif nbytes == 0:  # nothing buffered: wait for the server
                wait()
            else:
                break
    except BaseException:  # the sink failed: stop the server and leave the connection usable
        dbapi_conn.cancel_safe()
        while (nbytes := get(1)[0]) >= 0:
            if nbytes == 0:
                wait()
        while result() is not None:
            pass
        raise
    res = result()
    if res.status != pq.ExecStatus.COMMAND_OK:
        fail(res)
    while result() is not None:
        pass


def _read_chunk_pg(conn, last: int, high: int, n: int) -> pd.DataFrame:
    """The next ``n`` customers after ``last``, streamed with COPY (CSV) and parsed by pandas' C reader."""
    sql = _CHUNK_SQL.format(columns=", ".join(CUSTOMER_ATTRIBUTES), last="%s", high="%s", n="%s")
    buffer = io.BytesIO()
    _copy_out(conn.connection.driver_connection, f"copy ({sql}) to stdout (format csv, header true)",
              (int(last), int(high), int(n)), buffer.write)
    if buffer.tell() == 0:
        return pd.DataFrame(columns=["customer_id", *CUSTOMER_ATTRIBUTES])
    buffer.seek(0)
    frame = pd.read_csv(buffer, dtype={**{c: "category" for c in _TEXT_COLUMNS}, **{c: "object" for c in BOOLEAN}},
                        keep_default_na=False, na_values=[""])
    for col in BOOLEAN:  # PostgreSQL writes t/f; NULL stays missing for the validation to name
        frame[col] = frame[col].map(_PG_FLAGS)
    return frame


# One CSV line per customer, every field quoted (%w doubles a double quote), built by SQLite
# in C; NULL becomes an empty field, which is missing as a blank one is. The lines come in
# one string per chunk, in no particular order (group_concat's is not guaranteed).
_SQLITE_CSV = ("select group_concat(line, char(10)) from (select printf('{fmt}', customer_id, {args}) as line "
               "from customers where customer_id > ? and customer_id <= ? order by customer_id limit ?)").format(
    fmt=",".join(['"%w"'] * (1 + len(CUSTOMER_ATTRIBUTES))),
    args=", ".join(f"coalesce({c}, '')" for c in CUSTOMER_ATTRIBUTES))


def _read_chunk_sqlite(conn, last: int, high: int, n: int) -> pd.DataFrame:
    """The next ``n`` customers after ``last`` (in any order), as one CSV string parsed by pandas' C reader.

    The sqlite3 driver makes a Python object of every value of every row; here it makes
    one string per chunk: 2.0 s of CPU per 1M customers instead of 3.9. A chunk the CSV
    reader cannot take (text that is not UTF-8, say) is read row by row instead.
    """
    driver = conn.connection.driver_connection
    try:
        csv = driver.execute(_SQLITE_CSV, (int(last), int(high), int(n))).fetchone()[0]
    except sqlite3.Error:  # a value that is not text (a blob holding invalid UTF-8)
        return _read_rows_sqlite(driver, last, high, n)
    if csv is None:
        return pd.DataFrame(columns=["customer_id", *CUSTOMER_ATTRIBUTES])
    try:
        frame = pd.read_csv(io.StringIO(csv), header=None, names=["customer_id", *CUSTOMER_ATTRIBUTES],
                            dtype={c: "category" for c in _TEXT_COLUMNS}, keep_default_na=False, na_values=[""])
    except ValueError:  # pandas' ParserError and UnicodeDecodeError are ValueErrors
        return _read_rows_sqlite(driver, last, high, n)
    if frame["customer_id"].dtype.kind != "i":
        return _read_rows_sqlite(driver, last, high, n)
    return frame


def _read_rows_sqlite(driver, last: int, high: int, n: int) -> pd.DataFrame:
    """The same chunk fetched row by row by the sqlite3 driver (any value it can hold)."""
    sql = _CHUNK_SQL.format(columns=", ".join(CUSTOMER_ATTRIBUTES), last="?", high="?", n="?")
    rows = driver.execute(sql, (int(last), int(high), int(n))).fetchall()
    frame = pd.DataFrame.from_records(rows, columns=["customer_id", *CUSTOMER_ATTRIBUTES], coerce_float=False)
    for col in _TEXT_COLUMNS:
        frame[col] = frame[col].astype("category")
    return frame


# PostgreSQL's binary COPY: a header, then per row a field count and (length, value)
# pairs in network byte order, then a trailer. Built with numpy in one go, no row loop.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
_SCORE_ROW = np.dtype([("fields", ">i2"), ("run_len", ">i4"), ("run_id", ">i4"), ("id_len", ">i4"),
                       ("customer_id", ">i8"), ("p_len", ">i4"), ("propensity", ">f8")])


def _write_scores_pg(conn, run_id: int, ids: np.ndarray, propensity: np.ndarray) -> None:
    rows = np.empty(len(ids), dtype=_SCORE_ROW)
    rows["fields"], rows["run_len"], rows["run_id"] = 3, 4, run_id
    rows["id_len"], rows["customer_id"] = 8, ids
    rows["p_len"], rows["propensity"] = 8, propensity
    with conn.connection.driver_connection.cursor() as cur:
        with cur.copy("copy customer_scores_staging (run_id, customer_id, propensity) from stdin (format binary)") \
                as copy:
            copy.write(_COPY_HEADER + rows.tobytes() + _COPY_TRAILER)


def _write_scores_sqlite(conn, run_id: int, ids: np.ndarray, propensity: np.ndarray) -> None:
    conn.exec_driver_sql("insert into customer_scores_staging (run_id, customer_id, propensity) values (?, ?, ?)",
                         list(zip([run_id] * len(ids), ids.tolist(), propensity.tolist(), strict=True)))




def _reason_rows(engine: Engine, run_id: int, rows: int, model=None, best: list[int] | None = None) -> list[dict]:
    """score_reasons rows for the ``rows`` best-scored customers of a running run (nothing is written).

    Uses the run's own model and the score date's call month and day, so a reason is
    exactly what moved that customer's published score. ``best``, the run's customer ids
    best first when the caller has them, saves looking them up in the staging.
    """
    from sqlalchemy import bindparam

    from bank_scoring.explain import reason_codes, reference_values

    with engine.connect() as conn:
        run = _run_row(conn, run_id)
        if best is None:
            best = [int(r.customer_id) for r in conn.execute(text(
                "select customer_id from customer_scores_staging where run_id = :r "
                "order by propensity desc, customer_id limit :n"), {"r": run_id, "n": rows})]
    ids = best[:rows]
    if not ids:
        return []
    if model is None:
        model = registry.load_model(registry.get_version(engine, run.model_version))
    score_date = as_date(run.score_date)
    columns = ", ".join(("customer_id", *CUSTOMER_ATTRIBUTES))
    with engine.connect() as conn:
        customers = pd.read_sql_query(
            text(f"select {columns} from customers where customer_id in :ids").bindparams(
                bindparam("ids", expanding=True)), conn, params={"ids": ids})
    customers = customers.set_index("customer_id").loc[ids].reset_index()
    features = feature_frame(customers, month_name(score_date), score_date.day, score_date.year)
    reference = getattr(model, "reference_values_", None)
    if reference is None:  # a model trained before reason codes: typical values of today's customers
        with engine.connect() as conn:
            sample = pd.read_sql_query(text(f"select {columns} from customers order by customer_id limit 20000"),
                                       conn)
        reference = reference_values(feature_frame(sample, month_name(score_date), score_date.day,
                                                   score_date.year))
    reasons = reason_codes(model, features, reference)
    return [{"r": run_id, "c": cid, **dict(zip("abd", (*why, None, None, None)[:3], strict=True))}
            for cid, why in zip(ids, reasons, strict=True)]


def _write_reasons(conn, run_id: int, found: list[dict]) -> None:
    conn.execute(text("delete from score_reasons where run_id = :r"), {"r": run_id})
    if found:
        conn.execute(text("insert into score_reasons (run_id, customer_id, reason_1, reason_2, reason_3) "
                          "values (:r, :c, :a, :b, :d)"), found)
    log.info("run %s: reason codes for the top %s customers", run_id, len(found))


def _run_drift(engine: Engine, run_id: int, score_date: dt.date, model_version: int, model):
    """PSI per feature and score for the run's partitions; logs a warning when one drifted."""
    with engine.connect() as conn:
        parts = [json.loads(r[0]) for r in conn.execute(
            text("select counts_json from scoring_profiles where run_id = :r"), {"r": run_id})]
    if not parts:
        log.info("run %s: model v%s has no training profile, drift not measured", run_id, model_version)
        return {}, None
    total: dict[str, list[int]] = {}
    for part in parts:
        monitor.add_counts(total, part)
    profile = night_profile(model, score_date)
    values = monitor.drift(profile, total)
    alert = monitor.alert(values)
    if alert:
        log.warning("run %s for %s: %s (population stability index against model v%s's training data)",
                    run_id, score_date, alert, model_version)
    else:
        top = ", ".join(f"{k} {v:.3f}" for k, v in list(values.items())[:3])
        log.info("run %s: no drift above %s (largest: %s)", run_id, monitor.DRIFT_THRESHOLD, top)
    return values, alert


def publish_run(engine: Engine, run_id: int, profile: dict | None = None,
                reason_rows: int = DEFAULT_REASON_ROWS) -> RunSummary:
    """Make a complete run the one agents see, in one transaction.

    Refuses (and marks the run failed) when any customer is neither scored nor rejected,
    so nobody is silently left off. Replaces the date's earlier published scores. On
    PostgreSQL the night's partition is built first, then checked and swapped in.
    """
    clock = time.perf_counter()
    with engine.begin() as conn:
        run = _run_row(conn, run_id)
        if run.status != "running":
            raise ScoringError(f"run {run_id} is {run.status}; only a running run can be published")
        # Counts and id checksums instead of an anti-join over the whole table: one scan
        # of each table. A customer added or removed during the run changes them.
        total, id_sum = conn.execute(text("select count(*), coalesce(sum(customer_id), 0) from customers")).one()
        scored, scored_sum = conn.execute(text(
            "select count(*), coalesce(sum(customer_id), 0) from customer_scores_staging where run_id = :r"),
            {"r": run_id}).one()
        rejected, rejected_sum = conn.execute(text(
            "select count(*), coalesce(sum(customer_id), 0) from scoring_rejects where run_id = :r"),
            {"r": run_id}).one()
    missing = total - scored - rejected
    if missing or int(id_sum) != int(scored_sum) + int(rejected_sum):
        if missing > 0:
            error = (f"{missing} customers were neither scored nor rejected "
                     "(added during the run, or a partition did not run)")
        else:
            error = (f"the run's {scored + rejected} scored and rejected rows do not match the {total} customers "
                     "(customers removed or replaced during the run, or a partition ran twice at once)")
        mark_failed(engine, run_id, error)
        raise ScoringError(f"run {run_id}: {error}; nothing was published")
    with engine.begin() as conn:  # the checked counts; publish_customer_scores compares the night's table with them
        conn.execute(text("update scoring_runs set customers_total = :t, customers_scored = :s, "
                          "customers_rejected = :j where run_id = :r"),
                     {"t": total, "s": scored, "j": rejected, "r": run_id})
    if profile is not None:
        profile["publish: check counts"] = time.perf_counter() - clock
    model = registry.load_model(registry.get_version(engine, run.model_version))  # once, for both steps
    found: dict = {}

    def reasons_and_drift(best: list[int] | None = None) -> None:
        # Computed beside the server's (or SQLite's) work on the night's rows: a read of
        # the staging and 5,000 customers, then Python. Written with the night.
        started = time.perf_counter()
        found["reasons"] = _reason_rows(engine, run_id, reason_rows, model, best)
        found["drift"] = _run_drift(engine, run_id, as_date(run.score_date), run.model_version, model)
        if profile is not None:
            profile["publish: reasons, beside"] = time.perf_counter() - started

    cut = _band_cuts(scored)
    score_date = as_date(run.score_date)
    params = {"d": score_date, "r": run_id, "v": run.model_version, "a": cut[0], "b": cut[1], "c": cut[2]}
    with engine.connect() as conn:
        partitioned = _scores_partitioned(conn)
    with ThreadPoolExecutor(1) as aside:
        if partitioned:  # the best customers come from the ranked stream, explained while the indexes build
            _build_partition(engine, params, profile, reason_rows, reasons_and_drift)
        else:  # explained while the night's rows are ranked and inserted
            beside = aside.submit(reasons_and_drift)
        clock = time.perf_counter()
        with engine.begin() as conn:
            if partitioned:
                _write_reasons(conn, run_id, found["reasons"])  # before the swap takes its lock
                # Checks the night's table holds the whole run and swaps it in (sql/publish_customer_scores.sql).
                conn.execute(text("select publish_customer_scores(:r, :d, :v, :a, :b, :c)"), params)
            else:  # SQLite, or a customer_scores created before it was partitioned
                conn.execute(text("delete from customer_scores where score_date = :d"), {"d": score_date})
                if conn.dialect.name == "sqlite":
                    _insert_ranked_sqlite(conn, params)
                else:  # rank 10M rows in memory, not in temporary files
                    conn.execute(text("set local work_mem = '1GB'"))
                    conn.execute(text(_INSERT_RANKED.format(ranked=_RANKED)), params)
                _discard_staging(conn, run_id)  # the function above empties the staging itself
            if profile is not None:
                profile["publish: swap in" if partitioned else "publish: rank and insert"] = \
                    time.perf_counter() - clock
            if not partitioned:
                beside.result()
                _write_reasons(conn, run_id, found["reasons"])
            drift, alert = found["drift"]
            conn.execute(text("update scoring_runs set status = 'superseded' where score_date = :d "
                              "and status = 'published' and run_id <> :r"), {"d": score_date, "r": run_id})
            now = _utcnow()
            conn.execute(text("update scoring_runs set status = 'published', published_at = :now, seconds = :secs, "
                              "customers_total = :t, customers_scored = :s, customers_rejected = :j, "
                              "max_psi = :psi, drift_alert = :alert where run_id = :r"),
                         {"t": scored + rejected, "s": scored, "j": rejected, "r": run_id, "now": now,
                          "secs": (now - _as_datetime(run.started_at)).total_seconds(),
                          "psi": max(drift.values()) if drift else None, "alert": alert})
            conn.execute(text("delete from run_drift where run_id = :r"), {"r": run_id})
            if drift:
                conn.execute(text("insert into run_drift (run_id, feature, psi) values (:r, :f, :p)"),
                             [{"r": run_id, "f": name, "p": value} for name, value in drift.items()])
    log.info("run %s published for %s: %s scored, %s rejected", run_id, score_date, scored, rejected)
    return get_run(engine, run_id)


# The run's staging rows with their rank, and the insert of ranked rows into customer_scores.
_RANKED = ("select customer_id, propensity, row_number() over (order by propensity desc, customer_id) as rnk "
           "from customer_scores_staging where run_id = :r")
_INSERT_RANKED = ("insert into customer_scores (score_date, customer_id, run_id, model_version, propensity, rank, "
                  "band) select :d, customer_id, :r, :v, propensity, rnk, case when rnk <= :a then 'A' when rnk <= :b "
                  "then 'B' when rnk <= :c then 'C' else 'D' end from ({ranked}) as ranked")


def _insert_ranked_sqlite(conn, params: dict) -> None:
    """Rank the run into a temporary table, then insert it into customer_scores in rank order.

    Two statements, each with the page cache that suits it: the ranking's sort is fastest
    in SQLite's default 2 MB cache with a helper thread per core (sorted runs merged), the
    insert needs the key and rank indexes' pages in memory. 1M rows: 1.1 s to rank and 3.0
    s to insert, against 4.5 to 4.9 s as one statement with the large cache.
    """
    conn.exec_driver_sql("drop table if exists temp.ranked_scores")
    conn.exec_driver_sql("create temp table ranked_scores (rnk integer primary key, customer_id integer not null, "
                         "propensity real not null)")
    conn.exec_driver_sql(f"pragma threads = {min(4, os.cpu_count() or 1)}")
    try:
        conn.execute(text(f"insert into temp.ranked_scores (customer_id, propensity, rnk) {_RANKED}"), params)
        conn.exec_driver_sql(f"pragma cache_size = -{SQLITE_PUBLISH_CACHE_KB}")
        conn.execute(text(_INSERT_RANKED.format(ranked="select rnk, customer_id, propensity from temp.ranked_scores")),
                     params)
    finally:  # the pooled connection goes back to SQLite's defaults
        conn.exec_driver_sql("pragma cache_size = -2000")
        conn.exec_driver_sql("pragma threads = 0")
    conn.exec_driver_sql("drop table temp.ranked_scores")


def _build_partition(engine: Engine, params: dict, profile: dict | None, keep: int, while_indexing) -> None:
    """Tonight's customer_scores partition: ranked, filled by binary COPY, then indexed by two sessions at once.

    The table stays invisible to readers until publish_customer_scores attaches it, so it
    is built in its own committed steps: a crash leaves an unattached table that the next
    run's prepare drops. An INSERT ... SELECT writes a log record per row (10M rows: 36 s
    in one session, 30 s in two); COPY writes one per page, so the ranked rows are read
    from the staging in rank order and copied in (about 1M rows/s), a batch at a time.
    The table is created in the COPY's transaction, so the rows go in frozen. While the
    server builds the indexes, ``while_indexing`` gets the ``keep`` best customer ids.
    """
    def call(sql: str, extra: dict | None = None):
        with engine.begin() as conn:
            return conn.execute(text(sql), {**params, **(extra or {})}).scalar()

    clock = time.perf_counter()
    fresh, inserted, best = _copy_ranked_scores(engine, params, keep)
    if profile is not None:
        profile["publish: rank and fill"] = time.perf_counter() - clock
    clock = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:  # the key and the rank index side by side
        builds = [pool.submit(call, "select index_customer_scores_partition(:r, :d, :i)", {"i": i})
                  for i in ("key", "rank")]
        try:
            while_indexing(best)
        finally:
            wait_for(builds)
        for done in builds:
            done.result()
    if profile is not None:
        profile["publish: build indexes"] = time.perf_counter() - clock
    log.info("run %s: %s ranked scores in %s, indexed", params["r"], inserted, fresh)


# The staging rows in rank order (binary COPY: per row a field count, then length and value
# of the id and the propensity), and tonight's partition rows built from them.
_RANKED_ROW = np.dtype([("fields", ">i2"), ("id_len", ">i4"), ("customer_id", ">i8"), ("p_len", ">i4"),
                        ("propensity", ">f8")])
_PARTITION_ROW = np.dtype([("fields", ">i2"), ("d_len", ">i4"), ("score_date", ">i4"), ("id_len", ">i4"),
                           ("customer_id", ">i8"), ("r_len", ">i4"), ("run_id", ">i4"), ("v_len", ">i4"),
                           ("model_version", ">i4"), ("p_len", ">i4"), ("propensity", ">f8"), ("k_len", ">i4"),
                           ("rank", ">i4"), ("b_len", ">i4"), ("band", "S1")])
_POSTGRES_EPOCH = dt.date(2000, 1, 1)  # binary dates are days since
RANKED_BATCH_ROWS = 200_000


def _copy_ranked_scores(engine: Engine, params: dict, keep: int = 0) -> tuple[str, int, list[int]]:
    """Create tonight's table and stream the run's staging rows into it, best first.

    Returns the table's name, its rows, and the ``keep`` best customer ids.

    One session reads; the other creates the table and fills it in one transaction, with
    COPY FREEZE: the rows are written frozen and the pages all-visible, so no vacuum has
    to rewrite the night later.

    Memory stays at a few batches (200,000 rows: 5 MB in, 13 MB out) whatever the run's size;
    the ranks are counted here in the order PostgreSQL sorted them, as
    row_number() over (order by propensity desc, customer_id) would.
    """
    cuts = np.array([params["a"], params["b"], params["c"]])
    bands = np.array([b"A", b"B", b"C", b"D"])
    day = (params["d"] - _POSTGRES_EPOCH).days
    batch_bytes = RANKED_BATCH_ROWS * _RANKED_ROW.itemsize
    written = 0
    best: list[int] = []
    pending = bytearray()

    def convert(size: int) -> bytes:
        nonlocal written
        rows = np.frombuffer(bytes(pending[:size]), dtype=_RANKED_ROW)
        del pending[:size]
        if (rows["fields"] != 2).any() or (rows["id_len"] != 8).any() or (rows["p_len"] != 8).any():
            raise ScoringError(f"run {params['r']}: unexpected row layout in customer_scores_staging")
        out = np.empty(len(rows), dtype=_PARTITION_ROW)
        out["fields"], out["d_len"], out["score_date"] = 7, 4, day
        out["id_len"], out["customer_id"] = 8, rows["customer_id"]
        out["r_len"], out["run_id"], out["v_len"], out["model_version"] = 4, params["r"], 4, params["v"]
        out["p_len"], out["propensity"] = 8, rows["propensity"]
        if written < keep:
            best.extend(rows["customer_id"][:keep - written].tolist())
        ranks = np.arange(written + 1, written + len(rows) + 1)
        out["k_len"], out["rank"] = 4, ranks
        out["b_len"], out["band"] = 1, bands[np.searchsorted(cuts, ranks, side="left")]
        written += len(rows)
        return out.tobytes()

    header = len(_COPY_HEADER)  # bytes of header still to check at the front of pending

    def strip_header() -> None:
        nonlocal header
        if header:
            if bytes(pending[:header]) != _COPY_HEADER:
                raise ScoringError(f"run {params['r']}: unexpected COPY header {bytes(pending[:header])!r}")
            del pending[:header]
            header = 0

    in_flight: deque = deque()

    def send(data: bytes) -> None:
        # One sending thread writes the batches in order while this one reads and converts;
        # at most two batches wait for it, so memory does not grow when the server is slower.
        in_flight.append(sender.submit(into.write, data))
        while len(in_flight) > 2:
            in_flight.popleft().result()

    def take(row) -> None:  # called once per row: kept short
        pending.extend(row)
        if len(pending) >= batch_bytes + header:
            strip_header()
            send(convert(batch_bytes))

    with engine.connect() as source, engine.begin() as target, ThreadPoolExecutor(1) as sender:
        source.execute(text("set local work_mem = '1GB'"))  # the sort of 10M rows in memory
        fresh = target.execute(text("select prepare_customer_scores_partition(:r, :d)"), params).scalar_one()
        writer = target.connection.driver_connection.cursor()
        with writer.copy(f'copy "{fresh}" (score_date, customer_id, run_id, model_version, propensity, rank, '
                         "band) from stdin (format binary, freeze)") as into:
            try:
                send(_COPY_HEADER)
                _copy_out(source.connection.driver_connection,
                          "copy (select customer_id, propensity from customer_scores_staging where run_id = %s "
                          "order by propensity desc, customer_id) to stdout (format binary)", (params["r"],), take)
                strip_header()
                if bytes(pending[-len(_COPY_TRAILER):]) != _COPY_TRAILER:
                    raise ScoringError(f"run {params['r']}: the ranked scores ended early")
                del pending[-len(_COPY_TRAILER):]
                if pending:
                    send(convert(len(pending)))
                send(_COPY_TRAILER)
            finally:  # on any failure too, nothing is still writing when the COPY is ended
                wait_for(in_flight)
            for done in in_flight:
                done.result()  # raises a failed write
    return fresh, written, best


def _scores_partitioned(conn) -> bool:
    """PostgreSQL's customer_scores partitioned by date (every database init-db created since)."""
    if conn.dialect.name != "postgresql":
        return False
    return bool(conn.execute(text(
        "select exists (select 1 from pg_partitioned_table where partrelid = to_regclass('customer_scores'))")
    ).scalar())


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
                      row.customers_total, row.customers_scored, row.customers_rejected, row.seconds, row.error,
                      row.max_psi, row.drift_alert)


def list_runs(engine: Engine, limit: int = 20) -> list[RunSummary]:
    with engine.connect() as conn:
        ids = [r[0] for r in conn.execute(text("select run_id from scoring_runs order by run_id desc limit :n"),
                                          {"n": limit})]
    return [get_run(engine, i) for i in ids]


def score_customers(engine: Engine, score_date: dt.date, partitions: int = 1, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                    model_version: int | None = None, progress=None, workers: int = 1,
                    reason_rows: int = DEFAULT_REASON_ROWS) -> RunSummary:
    """Score every customer for ``score_date`` and publish the run.

    The same steps as the nightly DAG: start_run, score_partition per id range, publish.
    With ``workers`` > 1 that many processes score partitions at once, this one
    included (as mapped tasks do under Airflow), each with its own database connection
    and one prediction thread, so the cores are shared rather than oversubscribed.
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    clock = time.perf_counter()
    last_profile.clear()
    last_worker_peaks.clear()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        last_profile[name] = now - clock
        clock = now

    run_id = start_run(engine, score_date, partitions, model_version)
    try:
        lap("start_run")
        ranges = plan_partitions(engine, partitions)
        lap("plan_partitions")
        if workers > 1 and len(ranges) > 1:
            _score_in_workers(engine, run_id, ranges, chunk_rows, workers, progress)
        else:
            model = _run_model(engine, run_id)
            for number, (low, high) in enumerate(ranges, start=1):
                counts = score_partition(engine, run_id, low, high, chunk_rows, model=model)
                _add_partition_seconds(counts)
                if progress:
                    progress(number, len(ranges), counts)
        lap("score_partitions")
        publish_run(engine, run_id, profile=last_profile, reason_rows=reason_rows)
        lap("publish")
    except Exception as exc:
        mark_failed(engine, run_id, f"{type(exc).__name__}: {exc}")
        raise
    return get_run(engine, run_id)


# Seconds per step of the last score_customers call in this process (the benchmark's profile).
last_profile: dict[str, float] = {}

# Peak resident memory (bytes) of each spawned worker process of the last parallel run in
# this process, as the workers measured it themselves; the benchmark reports it beside this
# process's own.
last_worker_peaks: list[int] = []


def _score_in_workers(engine: Engine, run_id: int, ranges, chunk_rows: int, workers: int, progress) -> None:
    """Score the ranges in this process and in ``workers - 1`` spawned processes at once.

    Each process takes the next range when it has finished one. This process loads the
    model and starts at once, while a spawned one first imports the package (about 1.5 s
    on two cores, a range or more at a million customers); the spawned processes start
    fresh, with no inherited connections or threads. After a failure no new range is
    started, and the first error is raised once the running ranges have ended.
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
            _add_partition_seconds(counts)
            done += 1
            if progress:
                progress(done, len(ranges), counts)

    def here() -> None:  # this process, one prediction thread (OpenMP's limit is per calling thread)
        model = _run_model(engine, run_id)
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
    with ProcessPoolExecutor(max_workers=helpers, mp_context=context, initializer=_worker_init,
                             initargs=(url, run_id)) as pool, ThreadPoolExecutor(helpers + 1) as slots:
        started = [slots.submit(there) for _ in range(helpers)] + [slots.submit(here)]
        try:
            for future in as_completed(started):
                future.result()
        finally:
            with lock:
                pending.clear()  # after a failure the other slots start nothing new
            wait_for(started)
    last_worker_peaks[:] = list(peaks.values())


def _run_model(engine: Engine, run_id: int):
    """The model a run scores with, loaded (and its artifact hash checked)."""
    return registry.load_model(registry.get_version(engine, get_run(engine, run_id).model_version))


def _add_partition_seconds(counts: dict) -> None:
    for step in ("read", "validate", "predict", "monitor", "write"):
        key = f"cpu:{step} customers" if step == "read" else f"cpu:{step}"
        last_profile[key] = last_profile.get(key, 0.0) + counts.get(f"{step}_seconds", 0.0)


_worker_state: dict = {}


def _worker_init(url: str, run_id: int) -> None:
    from threadpoolctl import threadpool_limits

    from bank_scoring.db import make_db_engine

    threadpool_limits(1)
    engine = make_db_engine(url)
    _worker_state.update(engine=engine, run_id=run_id, model=_run_model(engine, run_id))


def _worker_score(low: int, high: int, chunk_rows: int) -> tuple[dict[str, int], int, int]:
    counts = score_partition(_worker_state["engine"], _worker_state["run_id"], low, high, chunk_rows,
                             model=_worker_state["model"])
    return counts, os.getpid(), peak_rss_bytes()


def peak_rss_bytes() -> int:
    """This process's peak resident memory so far.

    Linux's VmHWM belongs to the running program; getrusage's ru_maxrss survives exec and
    so reports the parent's peak in a freshly started child, which would mislead.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
