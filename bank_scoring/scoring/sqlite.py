"""SQLite's scoring backend: customers read as one CSV string per chunk, scores inserted,
and the night published by ranking the run and inserting it into ``customer_scores``
in the transaction that marks it published.
"""

from __future__ import annotations

import io
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, text

from bank_scoring.features import CUSTOMER_ATTRIBUTES
from bank_scoring.loop import control
from bank_scoring.scoring.backend import CHUNK_COLUMNS, CHUNK_SQL, TEXT_COLUMNS, Night
from bank_scoring.scoring.profile import RunProfile
from bank_scoring.scoring.runs import discard_staging

# SQLite's page cache while publish inserts the night (its default is 2 MB).
PUBLISH_CACHE_KB = 65536


def partition_cuts(conn: Connection, partitions: int) -> list[int]:
    """Cut points found by walking the primary key to every n-th id."""
    total = conn.execute(text("select count(*) from customers")).scalar_one()
    cuts = []
    for i in range(1, partitions):
        cut = conn.execute(
            text("select customer_id from customers order by customer_id limit 1 offset :k"),
            {"k": max(0, total * i // partitions - 1)},
        ).scalar()
        if cut is not None:
            cuts.append(int(cut))
    return cuts


# One CSV line per customer, every field quoted (%w doubles a double quote), built by SQLite
# in C; NULL becomes an empty field, which is missing as a blank one is. The lines come in
# one string per chunk, in no particular order (group_concat's is not guaranteed).
_CSV_CHUNK = (
    "select group_concat(line, char(10)) from (select printf('{fmt}', customer_id, {args}) as line "
    "from customers where customer_id > ? and customer_id <= ? order by customer_id limit ?)"
).format(
    fmt=",".join(['"%w"'] * (1 + len(CUSTOMER_ATTRIBUTES))),
    args=", ".join(f"coalesce({c}, '')" for c in CUSTOMER_ATTRIBUTES),
)


def read_chunk(conn: Connection, last: int, high: int, n: int) -> pd.DataFrame:
    """The next ``n`` customers after ``last`` (in any order), as one CSV string parsed by pandas' C reader.

    The sqlite3 driver would make a Python object of every value of every row; here it
    makes one string per chunk. A chunk the CSV reader cannot take (text that is not
    UTF-8, say) is read row by row instead.
    """
    driver = conn.connection.driver_connection
    try:
        csv = driver.execute(_CSV_CHUNK, (int(last), int(high), int(n))).fetchone()[0]
    except sqlite3.Error:  # a value that is not text (a blob holding invalid UTF-8)
        return read_rows(driver, last, high, n)
    if csv is None:
        return pd.DataFrame(columns=CHUNK_COLUMNS)
    try:
        frame = pd.read_csv(
            io.StringIO(csv),
            header=None,
            names=CHUNK_COLUMNS,
            dtype={c: "category" for c in TEXT_COLUMNS},
            keep_default_na=False,
            na_values=[""],
        )
    except ValueError:  # pandas' ParserError and UnicodeDecodeError are ValueErrors
        return read_rows(driver, last, high, n)
    if frame["customer_id"].dtype.kind != "i":
        return read_rows(driver, last, high, n)
    return frame


def read_rows(driver, last: int, high: int, n: int) -> pd.DataFrame:
    """The same chunk fetched row by row by the sqlite3 driver (any value it can hold)."""
    rows = driver.execute(CHUNK_SQL.format(last="?", high="?", n="?"), (int(last), int(high), int(n))).fetchall()
    frame = pd.DataFrame.from_records(rows, columns=CHUNK_COLUMNS, coerce_float=False)
    for col in TEXT_COLUMNS:
        frame[col] = frame[col].astype("category")
    return frame


def write_scores(conn: Connection, run_id: int, ids: np.ndarray, propensity: np.ndarray) -> None:
    conn.exec_driver_sql(
        "insert into customer_scores_staging (run_id, customer_id, propensity) values (?, ?, ?)",
        list(zip([run_id] * len(ids), ids.tolist(), propensity.tolist(), strict=True)),
    )


# The run's staging rows with their rank (bound parameters only), and the insert of ranked rows.
RANKED = (
    "select customer_id, propensity, row_number() over (order by propensity desc, customer_id) as rnk "
    "from customer_scores_staging where run_id = :r"
)
_INSERT_RANKED = (
    "insert into customer_scores (score_date, customer_id, run_id, model_version, propensity, rank, "
    "band) select :d, customer_id, :r, :v, propensity, rnk, case when rnk <= :a then 'A' "
    "when rnk <= :b then 'B' when rnk <= :c then 'C' else 'D' end "
    "from (select rnk, customer_id, propensity from temp.ranked_scores) as ranked"
)


def publish_night(engine: Engine, night: Night, explain, finish, profile: RunProfile) -> None:
    """Replace the date's scores with the ranked run and ``finish``, in one transaction.

    Reason codes and drift are computed in a thread while SQLite ranks and inserts.
    """
    params = night.params()
    with ThreadPoolExecutor(1) as aside:
        beside = aside.submit(explain, None)
        with engine.begin() as conn:
            with profile.timed("publish: rank and insert"):
                conn.execute(text("delete from customer_scores where score_date = :d"), {"d": night.score_date})
                _insert_ranked(conn, params)
                discard_staging(conn, night.run_id)
            with profile.timed("publish: log the control group"):
                control.mark_control(conn, night.run_id, night.score_date, night.control_share)
            beside.result()
            finish(conn)


def _insert_ranked(conn: Connection, params: dict) -> None:
    """Rank the run into a temporary table, then insert it into customer_scores in rank order.

    Two statements, each with the page cache that suits it: the ranking's sort is fastest
    in SQLite's default cache with a helper thread per core (sorted runs merged), the
    insert needs the key and rank indexes' pages in memory.
    """
    conn.exec_driver_sql("drop table if exists temp.ranked_scores")
    conn.exec_driver_sql(
        "create temp table ranked_scores (rnk integer primary key, customer_id integer not null, "
        "propensity real not null)"
    )
    conn.exec_driver_sql(f"pragma threads = {min(4, os.cpu_count() or 1)}")
    try:
        conn.execute(text(f"insert into temp.ranked_scores (customer_id, propensity, rnk) {RANKED}"), params)
        conn.exec_driver_sql(f"pragma cache_size = -{PUBLISH_CACHE_KB}")
        conn.execute(text(_INSERT_RANKED), params)
    finally:  # the pooled connection goes back to SQLite's defaults
        conn.exec_driver_sql("pragma cache_size = -2000")
        conn.exec_driver_sql("pragma threads = 0")
    conn.exec_driver_sql("drop table temp.ranked_scores")
