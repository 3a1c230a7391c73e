"""Sixteen agents claiming and recording at once on PostgreSQL, each on its own connection.

They work as fast as they can until 600 calls are recorded, on a clock the test keeps:
DAY 10:00 UTC plus one second per call any agent makes (a shared counter, so the run is
not bound to wall time). Then the tables are checked: no customer held by two claims at
once, no call recorded twice, every claim closed or held by one agent, no do-not-call
customer handed out, and the leads handed out are the best ranked of the night.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import threading

from sqlalchemy import text

from bank_scoring.agents import errors, policy
from bank_scoring.agents.claims import next_lead, record_outcome, release
from bank_scoring.agents.users import add_user
from bank_scoring.db import make_db_engine

from .conftest import at

AGENTS = 16
CALLS = 600
# What an agent does with a lead; 'keep' leaves it unrecorded until its lease runs out.
MIX = (
    ("no_answer", 30),
    ("call_back", 15),
    ("declined", 25),
    ("subscribed", 10),
    ("do_not_call", 5),
    ("release", 12),
    ("keep", 3),
)


class Clock:
    """DAY 10:00 plus one second per reading, whichever thread reads it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ticks = 0

    def __call__(self) -> dt.datetime:
        with self._lock:
            self._ticks += 1
            return at(10) + dt.timedelta(seconds=self._ticks)


class Tally:
    """What the agents were told, shared by the threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.recorded: list[tuple[int, int | None, int, str]] = []
        self.failures: list[BaseException] = []
        self.counts = {"lapsed": 0, "limit": 0, "empty": 0, "released": 0}

    def done(self) -> bool:
        with self.lock:
            return len(self.recorded) >= CALLS or bool(self.failures)

    def add(self, key: str) -> None:
        with self.lock:
            self.counts[key] += 1


def agent(url: str, name: str, seed: int, clock: Clock, tally: Tally, start: threading.Barrier) -> None:
    engine = make_db_engine(url)
    rng = random.Random(seed)
    kinds, weights = zip(*MIX, strict=True)
    try:
        with engine.connect() as conn:  # connected before the start, like an agent at their desk
            conn.exec_driver_sql("select 1")
        start.wait(timeout=60)
        while not tally.done():
            try:
                lead = next_lead(engine, name, clock())
            except errors.ClaimLimit:  # a kept lead: held until its lease runs out
                tally.add("limit")
                continue
            if lead is None:
                tally.add("empty")
                if tally.counts["empty"] > 20 * CALLS:  # an empty pool: fail now, not after the join's timeout
                    raise AssertionError(f"no lead for {name} {tally.counts['empty']} times")
                continue
            kind = rng.choices(kinds, weights)[0]
            if kind == "keep":
                continue
            now = clock()
            try:
                if kind == "release":
                    release(engine, name, lead.customer_id, now)
                    tally.add("released")
                    continue
                callback = now + dt.timedelta(seconds=rng.randint(20, 90)) if kind == "call_back" else None
                done = record_outcome(engine, name, lead.customer_id, kind, now, callback_at=callback)
            except errors.NoClaim:  # the lease ran out before the call was recorded
                tally.add("lapsed")
                continue
            assert not done.duplicate and done.claim_id == lead.claim_id
            with tally.lock:
                tally.recorded.append((done.call_outcome_id, done.claim_id, lead.customer_id, kind))
    except BaseException as exc:  # noqa: BLE001 - reported by the test, not lost in the thread
        with tally.lock:
            tally.failures.append(exc)
    finally:
        engine.dispose()


def rows(engine, sql: str, **params) -> list:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).all()


def test_sixteen_agents_at_once_never_share_a_lead_or_a_call(pg_night, night_pg_url):
    names = [f"desk{i:02d}" for i in range(AGENTS)]
    for name in names:
        add_user(pg_night, name, "agent")
    with pg_night.begin() as conn:
        rules = policy.load_rules(conn)
        policy.save_rules(conn, dataclasses.replace(rules, lease_minutes=2))  # leases run out during the run
        # Flagged after the night was published: in the pool, so only the policy keeps them out.
        top = conn.execute(text("select customer_id from lead_pool order by rank limit 40 offset 3")).scalars()
        flagged = list(top)[::2]
        conn.execute(text("update customers set is_do_not_call = true where customer_id = any(:f)"), {"f": flagged})
        run_id = conn.execute(text("select max(run_id) from lead_pool")).scalar_one()

    clock, tally = Clock(), Tally()
    start = threading.Barrier(AGENTS)
    threads = [
        threading.Thread(target=agent, args=(night_pg_url, name, i, clock, tally, start), daemon=True)
        for i, name in enumerate(names)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not any(t.is_alive() for t in threads), "an agent is still working after 10 minutes"
    assert not tally.failures, tally.failures[0]
    assert len(tally.recorded) >= CALLS
    assert tally.counts["released"] and tally.counts["lapsed"] + tally.counts["limit"]  # both paths were run

    # No customer held by two claims at once: a claim holds its customer from claimed_at
    # until it is recorded or released, or its lease runs out.
    overlapping = rows(
        pg_night,
        "with k as (select claim_id, customer_id, claimed_at, "
        "case when closed_at is null then expires_at else least(closed_at, expires_at) end as held_until "
        "from lead_claims) "
        "select a.claim_id, b.claim_id from k as a join k as b on a.customer_id = b.customer_id "
        "and a.claim_id < b.claim_id and b.claimed_at < a.held_until and a.claimed_at < b.held_until",
    )
    assert overlapping == []
    open_twice = "select customer_id from lead_claims where status = 'open' group by 1 having count(*) > 1"
    assert rows(pg_night, open_twice) == []

    # Every call recorded once, from its claim, by the agent holding it; nothing else recorded.
    assert rows(pg_night, "select claim_id from call_outcomes group by 1 having count(*) > 1") == []
    stored = rows(
        pg_night,
        "select o.call_outcome_id, o.claim_id, o.customer_id, o.outcome from call_outcomes as o "
        "join lead_claims as k on k.claim_id = o.claim_id and k.agent_id = o.agent_id "
        "and k.customer_id = o.customer_id and k.status = 'recorded'",
    )
    assert sorted(tuple(r) for r in stored) == sorted(tally.recorded)
    assert rows(pg_night, "select count(*) from call_outcomes")[0][0] == len(tally.recorded)
    assert (
        rows(
            pg_night,
            "select claim_id from lead_claims as k where (k.status = 'recorded') <> exists "
            "(select 1 from call_outcomes as o where o.claim_id = k.claim_id)",
        )
        == []
    )

    # Every claim is closed, or held by one agent of the desk, within the limit.
    claims = rows(pg_night, "select agent_id, status, expires_at from lead_claims")
    assert {c.agent_id for c in claims} <= set(names)
    assert {c.status for c in claims} <= {"open", "recorded", "released", "expired"}
    end = clock()
    held = [c.agent_id for c in claims if c.status == "open" and c.expires_at > end]
    assert len(held) == len(set(held))  # max_open_claims is 1

    # No do-not-call customer handed out: never the flagged ones, and nobody after the call
    # that recorded the request.
    assert rows(pg_night, "select claim_id from lead_claims where customer_id = any(:f)", f=flagged) == []
    assert (
        rows(
            pg_night,
            "select k.claim_id from lead_claims as k join call_outcomes as o on o.customer_id = k.customer_id "
            "and o.outcome = 'do_not_call' where k.claim_id > o.claim_id",
        )
        == []
    )

    # The best leads went first: every customer of the night ranked above the worst one handed
    # out was handed out too, unless the policy holds them (flagged or objecting) or they are
    # the control group, which is never handed out.
    worst = rows(pg_night, "select max(rank) from lead_claims where run_id = :r", r=run_id)[0][0]
    control = "select customer_id from lead_assignments where run_id = :r and role = 'control'"
    passed_over = rows(
        pg_night,
        "select sc.customer_id from customer_scores as sc join customers as c on c.customer_id = sc.customer_id "
        "where sc.run_id = :r and sc.rank <= :worst and not c.is_do_not_call and not c.has_objected "
        "and not exists (select 1 from lead_claims as k where k.customer_id = sc.customer_id) "
        f"and sc.customer_id not in ({control})",
        r=run_id,
        worst=worst,
    )
    assert passed_over == []
    assert rows(pg_night, f"select claim_id from lead_claims where customer_id in ({control})", r=run_id) == []
