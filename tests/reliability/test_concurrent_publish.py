"""Two nights published at the same time (a backfill) on PostgreSQL: both land, neither waits forever.

Run X fills tonight's table in one transaction (which holds a share lock on customer_scores,
taken by ``create table ... (like customer_scores)``) from a second session reading the
staging. If run Y's swap held the staging's exclusive lock while waiting for customer_scores,
X's reader would wait for Y, Y for X's writer, and X's writer for X's reader: a deadlock
through the client that PostgreSQL cannot detect, so both would hang.
"""

import datetime as dt
import threading
import time

from bank_scoring.scoring import get_run, plan_partitions, publish_run, score_customers, score_partition, start_run
from bank_scoring.scoring import postgres as pg_backend

from .conftest import DAY, scalar

LOCK_TIMEOUT = "10s"  # X's reader gives up after this instead of hanging the test


def _wait_until(check, what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_postgresql_a_swap_waiting_for_another_nights_fill_does_not_block_its_reader(pg_ready, monkeypatch):
    """Y's swap waits for X's fill to commit, and X's fill still reads the staging and finishes.

    The interleaving is made, not left to timing: X's reader starts only once Y's publish is
    waiting for a lock (X's fill already holds its share of customer_scores by then).
    """
    engine = pg_ready
    other_day = DAY - dt.timedelta(days=3)
    y = start_run(engine, other_day)
    for lo, hi in plan_partitions(engine, 1):
        score_partition(engine, y, lo, hi)

    real_copy_out = pg_backend.copy_out
    outcome: dict = {}
    started = threading.Event()

    def publish_y() -> None:
        try:
            publish_run(engine, y)
        except BaseException as exc:  # reported by the main thread
            outcome["error"] = exc

    def y_waits_for_a_lock() -> bool:
        return bool(
            scalar(
                engine,
                "select count(*) from pg_stat_activity where wait_event_type = 'Lock' "
                "and query like '%publish_customer_scores%'",
            )
        )

    def copy_out(dbapi_conn, query, params, sink):
        if "customer_scores_staging" in query and not started.is_set():  # X's reader of the ranked scores
            started.set()
            thread = threading.Thread(target=publish_y, daemon=True)
            thread.start()
            outcome["thread"] = thread
            _wait_until(lambda: y_waits_for_a_lock() or not thread.is_alive(), "run Y's swap to wait")
            assert thread.is_alive(), f"run Y finished before X's fill: {outcome.get('error')!r}"
            with dbapi_conn.cursor() as cur:
                cur.execute(f"set lock_timeout = '{LOCK_TIMEOUT}'")
        return real_copy_out(dbapi_conn, query, params, sink)

    monkeypatch.setattr(pg_backend, "copy_out", copy_out)
    x = score_customers(engine, DAY)
    outcome["thread"].join(120)
    assert not outcome["thread"].is_alive(), "run Y's publish never finished"
    assert "error" not in outcome, outcome.get("error")

    assert x.status == "published"
    assert get_run(engine, y).status == "published"
    for run_id in (x.run_id, y):
        assert scalar(engine, "select count(*) from customer_scores where run_id = :r", r=run_id) == x.customers_scored
    assert scalar(engine, "select count(*) from customer_scores_staging") == 0
