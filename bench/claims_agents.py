"""The day the agent-claims bench simulates, and its agents: the night's dates, campaign and
time zones, the clock the agents share, what an agent does with a lead, and the spawned agent
processes that claim and record for bench/agent_claims.py."""

from __future__ import annotations

import datetime as dt
import queue
import sys
import time
import traceback

SCORE_DATE = dt.date(2026, 12, 1)  # a Tuesday; Lisbon is on UTC, New York on UTC-5
CLOCK_START = dt.datetime(2026, 12, 1, 10, 0)  # naive UTC, as the claims take it
CAMPAIGN = ("bench-winter", SCORE_DATE - dt.timedelta(days=30), SCORE_DATE + dt.timedelta(days=60))
OTHER_ZONE = "America/New_York"
BAD_ZONE = "Europe/Atlantis"  # not an IANA zone: its customers must never be handed out
# What an agent does with a lead, and how often.
MIX = (
    ("no_answer", 0.45),
    ("declined", 0.30),
    ("call_back", 0.10),
    ("subscribed", 0.08),
    ("do_not_call", 0.02),
    ("release", 0.05),
)
RETRY_SHARE = 0.01  # records sent a second time: the same call, which must not be stored twice


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def agent_name(i: int) -> str:
    return f"agent{i + 1:02d}"


# ---------------------------------------------------------------- the agents (spawned processes)


def simulated(wall: float, start: float, speedup: float) -> dt.datetime:
    """The shared clock: CLOCK_START plus the wall seconds since the start, times the speed-up."""
    return CLOCK_START + dt.timedelta(seconds=(wall - start) * speedup)


def agent_main(url, agent, seed, seconds, speedup, ready, go, start_at, results) -> None:
    """One agent: claim, record (or release), again, until the run's time is up; report what it saw."""
    try:
        results.put(agent_loop(url, agent, seed, seconds, speedup, ready, go, start_at))
    except BaseException:
        results.put({"agent": agent, "crashed": traceback.format_exc()})
        raise


def agent_loop(url, agent, seed, seconds, speedup, ready, go, start_at) -> dict:
    import random

    from bank_scoring.agents import errors
    from bank_scoring.agents.claims import next_lead, record_outcome, release
    from bank_scoring.db import make_db_engine

    engine = make_db_engine(url)
    with engine.connect() as conn:  # the connection is made before the clock starts
        conn.exec_driver_sql("select 1")
    rng = random.Random(seed)
    kinds = [k for k, _ in MIX]
    weights = [w for _, w in MIX]
    claim_ms, record_ms = [], []
    claims, records, releases, retries = [], [], [], []
    counts = {"empty": 0, "expired": 0}
    failures: dict[str, int] = {}
    first_failure: dict[str, str] = {}

    def failed(exc: BaseException) -> None:
        name = type(exc).__name__
        failures[name] = failures.get(name, 0) + 1
        first_failure.setdefault(name, str(exc).splitlines()[0][:300] if str(exc) else name)

    ready.wait(timeout=300)
    go.wait(timeout=300)
    start = start_at.value
    end = start + seconds
    time.sleep(max(0.0, start - time.time()))
    last = start
    held = None  # a customer this agent may still hold after a failed call
    while True:
        wall = time.time()
        if wall >= end:
            break
        now = simulated(wall, start, speedup)
        began = time.perf_counter()
        try:
            lead = next_lead(engine, agent, now)
        except errors.ClaimLimit as exc:
            failed(exc)
            if held is not None:
                try:
                    release(engine, agent, held, now)
                except errors.AgentError:
                    pass
                held = None
            time.sleep(0.01)
            continue
        except Exception as exc:  # counted and shown: a bench reports, it does not stop at the first
            failed(exc)
            time.sleep(0.01)
            continue
        claim_ms.append((time.perf_counter() - began) * 1000)
        last = time.time()
        if lead is None:
            counts["empty"] += 1
            time.sleep(0.02)
            continue
        held = lead.customer_id
        claims.append((lead.claim_id, lead.customer_id, lead.is_callback))
        kind = rng.choices(kinds, weights)[0]
        now = simulated(time.time(), start, speedup)
        callback_at = now + dt.timedelta(minutes=rng.uniform(20, 180)) if kind == "call_back" else None
        began = time.perf_counter()
        try:
            if kind == "release":
                release(engine, agent, lead.customer_id, now)
            else:
                done = record_outcome(engine, agent, lead.customer_id, kind, now, callback_at=callback_at)
        except errors.NoClaim:  # the lease ran out before the call was recorded: the lead went back
            counts["expired"] += 1
            held = None
            continue
        except Exception as exc:
            failed(exc)
            continue
        record_ms.append((time.perf_counter() - began) * 1000)
        last = time.time()
        held = None
        if kind == "release":
            releases.append((lead.claim_id, lead.customer_id))
            continue
        records.append((done.call_outcome_id, lead.claim_id, lead.customer_id, kind, done.duplicate))
        if rng.random() < RETRY_SHARE:
            again_at = max(simulated(time.time(), start, speedup), now)
            try:
                again = record_outcome(engine, agent, lead.customer_id, kind, again_at, callback_at=callback_at)
                retries.append((done.call_outcome_id, again.call_outcome_id, again.duplicate))
            except Exception as exc:
                failed(exc)
    engine.dispose()
    return {
        "agent": agent,
        "claim_ms": claim_ms,
        "record_ms": record_ms,
        "claims": claims,
        "records": records,
        "releases": releases,
        "retries": retries,
        "counts": counts,
        "failures": failures,
        "first_failure": first_failure,
        "last": last,
        "start": start,
    }


def run_agents(url: str, agents: int, seconds: float, speedup: float, seed: int) -> list[dict]:
    """Spawn the agents, start them together on the shared clock, and collect what each saw."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    ready, go = ctx.Barrier(agents + 1), ctx.Barrier(agents + 1)
    start_at = ctx.Value("d", 0.0)
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=agent_main,
            args=(url, agent_name(i), seed * 1000 + i, seconds, speedup, ready, go, start_at, results),
            daemon=True,
        )
        for i in range(agents)
    ]
    for p in procs:
        p.start()
    try:
        started = time.perf_counter()
        ready.wait(timeout=300)
        log(f"  {agents} agents connected in {time.perf_counter() - started:.1f}s; running {seconds:g}s")
        start_at.value = time.time() + 0.5
        go.wait(timeout=60)
        found: list[dict] = []
        deadline = time.time() + seconds + 600
        while len(found) < agents:
            try:
                found.append(results.get(timeout=5))
            except queue.Empty:
                if time.time() > deadline:
                    raise SystemExit(f"only {len(found)} of {agents} agents reported in time") from None
                if not any(p.is_alive() for p in procs) and results.empty():
                    raise SystemExit(f"agent processes died: only {len(found)} of {agents} reported") from None
        crashed = [r for r in found if "crashed" in r]
        if crashed:
            raise SystemExit(f"agent {crashed[0]['agent']} crashed:\n{crashed[0]['crashed']}")
        for p in procs:
            p.join(timeout=60)
        return found
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=10)
