"""Two nights published at the same time (a backfill) on PostgreSQL: neither waits for the other's fill.

Run X fills tonight's table in one long transaction from a second session reading the
staging. Before, that transaction also created the table `like customer_scores`, so it held
a share of customer_scores' lock for the whole fill:
- run Y's swap, which needs customer_scores to itself, waited for X's fill, and every
  reader of the worklist queued behind the swap (at 10M customers, for minutes);
- a swap that also held the staging's lock while it waited hung both runs for good: X's
  reader waited for Y, Y for X's writer, X's writer for X's reader, a deadlock through the
  client that PostgreSQL cannot detect.
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


def test_postgresql_a_swap_does_not_wait_for_another_nights_fill(pg_ready, monkeypatch):
    """Run Y publishes whole while run X's fill is under way, then X publishes too.

    The interleaving is made, not left to timing: X's fill stops before its reader starts
    (its transaction already holds what it holds for the fill) until Y's publish has
    finished; if Y waits for a lock meanwhile, the test fails instead of hanging.
    """
    engine = pg_ready
    y = start_run(engine, DAY - dt.timedelta(days=3))
    for lo, hi in plan_partitions(engine, 1):
        score_partition(engine, y, lo, hi)

    real_copy_out = pg_backend.copy_out
    outcome: dict = {}

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
                "and backend_type = 'client backend' and datname = current_database()",
            )
        )

    def copy_out(dbapi_conn, query, params, sink):
        if "customer_scores_staging" in query and "thread" not in outcome:  # X's reader of the ranked scores
            thread = threading.Thread(target=publish_y, daemon=True)
            outcome["thread"] = thread
            thread.start()
            _wait_until(lambda: not thread.is_alive() or y_waits_for_a_lock(), "run Y's publish")
            time.sleep(0.5)  # a wait that began just now shows too
            outcome["waited"] = y_waits_for_a_lock()
            with dbapi_conn.cursor() as cur:  # X's reader gives up rather than hang the test
                cur.execute(f"set lock_timeout = '{LOCK_TIMEOUT}'")
        return real_copy_out(dbapi_conn, query, params, sink)

    monkeypatch.setattr(pg_backend, "copy_out", copy_out)
    x = score_customers(engine, DAY)
    outcome["thread"].join(120)
    assert not outcome["thread"].is_alive(), "run Y's publish never finished"
    assert "error" not in outcome, outcome.get("error")
    assert not outcome["waited"], "run Y's publish waited for a lock held by run X's fill"

    assert x.status == "published"
    assert get_run(engine, y).status == "published"
    for run_id in (x.run_id, y):
        assert scalar(engine, "select count(*) from customer_scores where run_id = :r", r=run_id) == x.customers_scored
    assert scalar(engine, "select count(*) from customer_scores_staging") == 0
    frozen = scalar(  # COPY FREEZE still applies: the night's pages are all-visible
        engine,
        "select relallvisible = relpages and relpages > 0 from pg_class where relname = :t",
        t=f"customer_scores_{DAY:%Y%m%d}_run{x.run_id}",
    )
    assert frozen
