"""5: agents reading the worklist during runs and publishes always see one complete run."""

import threading
import time

from sqlalchemy import text

from bank_scoring.db import make_db_engine
from bank_scoring.score import score_customers

from .conftest import DAY

READ = ("select count(*) as n, count(distinct run_id) as runs, min(rank) as first, max(rank) as last, "
        "max(run_id) as run_id from agent_worklist")


def test_every_read_sees_one_whole_run_old_or_new(ready, db_url):
    """Four readers on their own connections hammer the view while three runs publish."""
    stop = threading.Event()
    seen, errors = [], []

    def reader():
        engine = make_db_engine(db_url)
        try:
            while not stop.is_set():
                with engine.connect() as conn:
                    seen.append(tuple(conn.execute(text(READ)).one()))
        except Exception as exc:  # noqa: BLE001 - any failure is the test's failure
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    published = [ready.old_run.run_id]
    for day in (DAY, DAY, DAY.replace(day=29)):
        published.append(score_customers(ready, day, partitions=2, chunk_rows=500).run_id)
    time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join(timeout=30)

    assert not errors, errors
    assert len(seen) > 50
    for n, runs, first, last, run_id in seen:
        assert (n, runs, first, last) == (3000, 1, 1, 3000), (n, runs, first, last, run_id)
        assert run_id in published
    assert len({r[-1] for r in seen}) >= 2  # reads really did overlap the publishes
