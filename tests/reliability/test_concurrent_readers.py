"""5: agents reading the worklist during runs and publishes always see one complete run."""

import threading

from sqlalchemy import event, text

from bank_scoring.db import make_db_engine
from bank_scoring.scoring import score_customers

from .conftest import DAY

# The listed leads plus the run's control group (left out of the list once the night's pool is
# filled) make the whole run; one statement, so one snapshot of both.
READ = (
    "with w as (select run_id, rank from agent_worklist), r as (select max(run_id) as run_id from w), "
    "c as (select s.run_id, s.rank from customer_scores s "
    "join lead_assignments la on la.run_id = s.run_id and la.customer_id = s.customer_id "
    "join r on r.run_id = s.run_id where la.role = 'control'), "
    "u as (select run_id, rank from w union all select run_id, rank from c) "
    "select count(*) as n, count(distinct run_id) as runs, min(rank) as first, max(rank) as last, "
    "max(run_id) as run_id from u"
)
READERS = 4
HUNG = 300  # seconds; only a hung test waits this long


def test_every_read_sees_one_whole_run_old_or_new(ready, ready_url):
    """Four readers on their own connections read the view while three runs score and publish.

    Reads are called for by the test, not left to timing:
    - every reader reads once before the first run starts;
    - at every commit of a run (the publish's included) the readers are called and the commit
      waits until a read is under way, so reads straddle each commit;
    - after each run every reader reads again, and must see the new run.
    So each reader sees every published run, in order, and never a partial or mixed one.
    """
    cond = threading.Condition()
    calls = [0]  # how many times the readers have been called
    answered = [0] * READERS  # the last call each reader has begun a read for
    seen = [[] for _ in range(READERS)]  # (call, row) of each read a reader finished
    in_flight = [0]
    errors = []
    stop = threading.Event()

    def wait_until(predicate, what):
        """Wait on the condition (held by the caller) for ``predicate``; a reader's error ends the wait."""
        if not cond.wait_for(lambda: errors or predicate(), timeout=HUNG):
            raise AssertionError(f"hung waiting for {what}")
        assert not errors, errors

    def call_readers() -> int:
        """Ask every reader for one more read (the caller holds the condition)."""
        calls[0] += 1
        cond.notify_all()
        return calls[0]

    def reader(i):
        engine = make_db_engine(ready_url)
        try:
            while True:
                with cond:
                    cond.wait_for(lambda: stop.is_set() or calls[0] > answered[i])
                    if stop.is_set():
                        return
                    call = answered[i] = calls[0]
                    in_flight[0] += 1
                    cond.notify_all()
                try:
                    with engine.connect() as conn:
                        row = tuple(conn.execute(text(READ)).one())
                finally:
                    with cond:
                        in_flight[0] -= 1
                with cond:
                    seen[i].append((call, row))
                    cond.notify_all()
        except Exception as exc:  # noqa: BLE001 - any failure is the test's failure
            with cond:
                errors.append(exc)
                cond.notify_all()
        finally:
            engine.dispose()

    def read_by_all(call: int) -> bool:
        return all(reads and reads[-1][0] >= call for reads in seen)

    overlapped = [0]  # commits of the runs made while a read was under way

    def commit_during_a_read(conn):
        with cond:
            if not in_flight[0]:
                call = call_readers()
                wait_until(lambda: in_flight[0] or max(answered) >= call, "a read under way at a commit")
            overlapped[0] += 1

    threads = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(READERS)]
    for t in threads:
        t.start()
    published = [ready.old_run.run_id]
    try:
        with cond:
            first = call_readers()
            wait_until(lambda: read_by_all(first), "every reader's first read")
        event.listen(ready, "commit", commit_during_a_read)
        for day in (DAY, DAY, DAY.replace(day=29)):
            commits = overlapped[0]
            published.append(score_customers(ready, day, partitions=2, chunk_rows=500).run_id)
            assert overlapped[0] > commits, "the run committed nothing through its engine"
            with cond:
                after = call_readers()
                wait_until(lambda a=after: read_by_all(a), "every reader's read after the publish")
                # A read begun after the publish returned sees the new run.
                assert [reads[-1][1][-1] for reads in seen] == [published[-1]] * READERS
    finally:
        if event.contains(ready, "commit", commit_during_a_read):
            event.remove(ready, "commit", commit_during_a_read)
        with cond:
            stop.set()
            cond.notify_all()
        for t in threads:
            t.join(timeout=HUNG)

    assert not errors, errors
    assert not any(t.is_alive() for t in threads)
    for reads in seen:
        rows = [row for _, row in reads]
        for n, runs, first, last, run_id in rows:
            assert (n, runs, first, last) == (3000, 1, 1, 3000), (n, runs, first, last, run_id)
        # Each reader saw every published run, in the order they were published, never going back.
        in_order = [row[-1] for k, row in enumerate(rows) if k == 0 or rows[k - 1][-1] != row[-1]]
        assert in_order == published, (in_order, published)
