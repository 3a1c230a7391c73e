"""PostgreSQL's scoring backend: customers read with COPY, scores written with binary COPY,
and the night published as a fresh partition of ``customer_scores`` swapped in whole.

The publish (see sql/publish_customer_scores.sql for the SQL half):
1. ``prepare_customer_scores_partition`` creates tonight's empty table and commits (its
   ``like customer_scores`` takes a share of customer_scores' lock, which the fill must not
   hold: another night's swap, and every reader queued behind it, would wait for the fill);
   the fill's transaction truncates it, so COPY FREEZE writes the rows frozen and
   all-visible;
2. the staged scores are read in rank order and copied in with the rank and band, a
   batch at a time (a page of WAL per page, not a record per row as INSERT ... SELECT);
3. the key and rank indexes are built by two sessions at once, while this process
   computes the reason codes and drift;
4. ``publish_customer_scores`` checks the table holds the whole run, makes the key the
   primary key and attaches the table as the date's partition, replacing an earlier
   one, in the transaction that marks the run published;
5. ``clear_customer_scores_staging`` empties the staging afterwards, in its own
   transaction: a swap that held the staging's lock while waiting for customer_scores
   could deadlock with another night's fill (its reader on the staging, its writer
   holding customer_scores) through this client, where PostgreSQL cannot see it.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import select
import struct
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_for

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, text

from bank_scoring.features import BOOLEAN
from bank_scoring.loop import control
from bank_scoring.scoring.backend import CHUNK_COLUMNS, CHUNK_SQL, TEXT_COLUMNS, Night
from bank_scoring.scoring.profile import RunProfile
from bank_scoring.scoring.runs import ScoringError

log = logging.getLogger(__name__)

_FLAGS = {"t": True, "f": False}  # PostgreSQL's CSV spelling of booleans
# Rows of the sample the partition cut points come from, on a large table.
_CUT_SAMPLE_ROWS = 200_000


def partition_cuts(conn: Connection, partitions: int) -> list[int]:
    """Cut points from a repeatable sample of the table's pages (no scan of every id)."""
    estimate = conn.execute(text("select reltuples from pg_class where oid = 'customers'::regclass")).scalar()
    percent = (
        100.0 if not estimate or estimate < 2 * _CUT_SAMPLE_ROWS else max(0.5, 100.0 * _CUT_SAMPLE_ROWS / estimate)
    )
    cuts = conn.execute(
        text(
            "select percentile_disc(:q) within group (order by customer_id) from customers "
            "tablesample system (:pct) repeatable (42)"
        ),
        {"q": [i / partitions for i in range(1, partitions)], "pct": percent},
    ).scalar()
    return [int(c) for c in (cuts or []) if c is not None]


def copy_out(dbapi_conn, query: str, params, sink) -> None:
    """Run ``COPY (query) TO STDOUT ...`` and hand each row's bytes to ``sink``, one libpq call per row.

    The server sends one message per row, and psycopg's Copy iterator goes five Python
    calls deep for each; here each row costs one call into libpq (psycopg's C binding) and
    one to ``sink``. The statement is bound client-side (COPY takes no server parameters)
    and runs in the connection's current transaction, if any.
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


def read_chunk(conn: Connection, last: int, high: int, n: int) -> pd.DataFrame:
    """The next ``n`` customers after ``last``, streamed with COPY (CSV) and parsed by pandas' C reader."""
    sql = CHUNK_SQL.format(last="%s", high="%s", n="%s")
    buffer = io.BytesIO()
    copy_out(
        conn.connection.driver_connection,
        f"copy ({sql}) to stdout (format csv, header true)",
        (int(last), int(high), int(n)),
        buffer.write,
    )
    if buffer.tell() == 0:
        return pd.DataFrame(columns=CHUNK_COLUMNS)
    buffer.seek(0)
    # 'NA' is a value, not a missing one: only an empty field is NULL.
    frame = pd.read_csv(
        buffer,
        dtype={**{c: "category" for c in TEXT_COLUMNS}, **{c: "object" for c in BOOLEAN}},
        keep_default_na=False,
        na_values=[""],
    )
    for col in BOOLEAN:  # t/f; NULL stays missing for the validation to name
        frame[col] = frame[col].map(_FLAGS)
    return frame


# PostgreSQL's binary COPY: a header, then per row a field count and (length, value)
# pairs in network byte order, then a trailer. Built with numpy in one go, no row loop.
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
COPY_TRAILER = struct.pack(">h", -1)
SCORE_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("run_len", ">i4"),
        ("run_id", ">i4"),
        ("id_len", ">i4"),
        ("customer_id", ">i8"),
        ("p_len", ">i4"),
        ("propensity", ">f8"),
    ]
)


def write_scores(conn, run_id: int, ids: np.ndarray, propensity: np.ndarray) -> None:
    rows = np.empty(len(ids), dtype=SCORE_ROW)
    rows["fields"], rows["run_len"], rows["run_id"] = 3, 4, run_id
    rows["id_len"], rows["customer_id"] = 8, ids
    rows["p_len"], rows["propensity"] = 8, propensity
    with conn.connection.driver_connection.cursor() as cur:
        with cur.copy(
            "copy customer_scores_staging (run_id, customer_id, propensity) from stdin (format binary)"
        ) as copy:
            copy.write(COPY_HEADER + rows.tobytes() + COPY_TRAILER)


def publish_night(engine: Engine, night: Night, explain, finish, profile: RunProfile) -> None:
    """Build tonight's partition, then check it and swap it in with ``finish`` in one transaction."""
    params = night.params()
    with profile.timed("publish: rank and fill"):
        fresh, inserted, best, grouped = _copy_ranked_scores(engine, params, night.reason_rows, night.control_share)

    def build(index: str) -> None:
        with engine.begin() as conn:
            conn.execute(text("select index_customer_scores_partition(:r, :d, :i)"), {**params, "i": index})

    with profile.timed("publish: build indexes"), ThreadPoolExecutor(2) as pool:
        builds = [pool.submit(build, index) for index in ("key", "rank")]
        try:
            explain(best)  # this process's work while the server sorts
        finally:
            wait_for(builds)
        for done in builds:
            done.result()
        build("statistics")
    log.info("run %s: %s ranked scores in %s, indexed", night.run_id, inserted, fresh)
    with engine.begin() as conn:
        with profile.timed("publish: log the control group"):
            control.log_control(conn, night.run_id, *grouped, night.control_share)
        with profile.timed("publish: swap in"):
            conn.execute(text("select publish_customer_scores(:r, :d)"), params)  # checks the run is still running
            finish(conn)
    with profile.timed("publish: empty the staging"), engine.begin() as conn:
        conn.execute(text("select clear_customer_scores_staging()"))


# The staging rows in rank order (binary COPY: per row a field count, then length and value
# of the id and the propensity), and tonight's partition rows built from them.
_RANKED_ROW = np.dtype(
    [("fields", ">i2"), ("id_len", ">i4"), ("customer_id", ">i8"), ("p_len", ">i4"), ("propensity", ">f8")]
)
_PARTITION_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("d_len", ">i4"),
        ("score_date", ">i4"),
        ("id_len", ">i4"),
        ("customer_id", ">i8"),
        ("r_len", ">i4"),
        ("run_id", ">i4"),
        ("v_len", ">i4"),
        ("model_version", ">i4"),
        ("p_len", ">i4"),
        ("propensity", ">f8"),
        ("k_len", ">i4"),
        ("rank", ">i4"),
        ("b_len", ">i4"),
        ("band", "S1"),
    ]
)
_POSTGRES_EPOCH = dt.date(2000, 1, 1)  # binary dates are days since
RANKED_BATCH_ROWS = 200_000


def _copy_ranked_scores(
    engine: Engine, params: dict, keep: int = 0, control_share: float = 0.0
) -> tuple[str, int, list[int], tuple[np.ndarray, np.ndarray]]:
    """Create tonight's table and stream the run's staging rows into it, best first.

    Returns the table's name, its rows, the ``keep`` best customer ids, and the ids and
    ranks of the run's control group (``control_share``), picked on the way.

    One session reads; the other empties the table prepared for it and fills it in one
    transaction, with COPY FREEZE: the rows are written frozen and the pages all-visible, so no vacuum has
    to rewrite the night later. Memory stays at a few batches whatever the run's size;
    the ranks are counted here in the order PostgreSQL sorted them, as
    row_number() over (order by propensity desc, customer_id) would.
    """
    cuts = np.array([params["a"], params["b"], params["c"]])
    bands = np.array([b"A", b"B", b"C", b"D"])
    day = (params["d"] - _POSTGRES_EPOCH).days
    batch_bytes = RANKED_BATCH_ROWS * _RANKED_ROW.itemsize
    written = 0
    best: list[int] = []
    grouped: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * 2
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
            best.extend(rows["customer_id"][: keep - written].tolist())
        ranks = np.arange(written + 1, written + len(rows) + 1)
        out["k_len"], out["rank"] = 4, ranks
        if control_share > 0:
            picked = control.control_mask(rows["customer_id"], control_share)
            grouped[0] = np.concatenate([grouped[0], rows["customer_id"][picked].astype(np.int64)])
            grouped[1] = np.concatenate([grouped[1], ranks[picked]])
        out["b_len"], out["band"] = 1, bands[np.searchsorted(cuts, ranks, side="left")]
        written += len(rows)
        return out.tobytes()

    header = len(COPY_HEADER)  # bytes of header still to check at the front of pending

    def strip_header() -> None:
        nonlocal header
        if header:
            if bytes(pending[:header]) != COPY_HEADER:
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

    from psycopg import sql as pg_sql

    with engine.begin() as conn:
        fresh = conn.execute(text("select prepare_customer_scores_partition(:r, :d)"), params).scalar_one()
    with engine.connect() as source, engine.begin() as target, ThreadPoolExecutor(1) as sender:
        source.execute(text("set local work_mem = '1GB'"))  # the night's sort in memory, not in temporary files
        writer = target.connection.driver_connection.cursor()
        writer.execute(pg_sql.SQL("truncate {}").format(pg_sql.Identifier(fresh)))  # so COPY may FREEZE
        with writer.copy(
            f'copy "{fresh}" (score_date, customer_id, run_id, model_version, propensity, rank, '
            "band) from stdin (format binary, freeze)"
        ) as into:
            try:
                send(COPY_HEADER)
                copy_out(
                    source.connection.driver_connection,
                    "copy (select customer_id, propensity from customer_scores_staging where run_id = %s "
                    "order by propensity desc, customer_id) to stdout (format binary)",
                    (params["r"],),
                    take,
                )
                strip_header()
                if bytes(pending[-len(COPY_TRAILER) :]) != COPY_TRAILER:
                    raise ScoringError(f"run {params['r']}: the ranked scores ended early")
                del pending[-len(COPY_TRAILER) :]
                if pending:
                    send(convert(len(pending)))
                send(COPY_TRAILER)
            finally:  # on any failure too, nothing is still writing when the COPY is ended
                wait_for(in_flight)
            for done in in_flight:
                done.result()  # raises a failed write
    return fresh, written, best, (grouped[0], grouped[1])
