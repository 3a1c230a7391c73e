"""Agents claiming leads: claims and records per second, latency, and a second opinion on every rule.

    python bench/agent_claims.py --quick      # CI size: 20,000 customers, 8 + 4 agents, 10 s
    python bench/agent_claims.py              # 1,000,000 customers, 32 agents on PostgreSQL, 4 on SQLite, 60 s

What it does, per database (PostgreSQL, then SQLite):
1. Builds a published night: trains a model on the UCI calls (--csv or BANK_CSV;
   bank.csv is enough, one estimator, no model selection), generates N customers with the
   project's generator and bulk-loads them (bench/scoring_throughput.py's loaders), gives
   10% of them America/New_York and 5% a time zone that does not exist (written straight
   into customers.time_zone), flags 1% do-not-call, opens a campaign, and scores and
   publishes the night with ``score_customers`` (which fills the pool of leads). Then,
   after publishing, flags another 1% do-not-call and 0.5% as objecting: they are in
   the pool already, so only the contact policy keeps them from the agents. Adds the
   agents (users with role agent) and settles the tables (vacuum, analyse).
2. Runs P agent processes (spawned; 32 on PostgreSQL, 4 on SQLite) for D seconds on a
   simulated clock they all share: 10:00 UTC on the score date (a Tuesday) plus wall
   time times a speed-up (by default the run covers 12 simulated hours, to 22:00 UTC:
   720x for 60 s), so no-answer returns (4 h), callbacks and their grace come due,
   New York's calling hours open (14:00 UTC) and Lisbon's close (21:00 UTC) during the
   run. Each agent loops: ``next_lead``, then one of: no answer 45%, declined 30%, call
   back 10% (20 min to 3 h later), subscribed 8%, do not call 2% (``record_outcome``),
   release 5% (``release``); 1% of records are sent twice, as a retrying client would.
   Each call's latency is measured.
3. The checker re-reads every claim and outcome and recomputes, in pandas and from the
   rules' numbers alone (not from sql/contact_policy.sql): customers held by two claims
   at once, outcomes lost or doubled, do-not-call customers handed out, cool-downs
   broken, and leads handed out outside their calling window.
4. Prints one table of figures, the checker's counts and what the run exercised, the
   targets beside the figures (>= 2,000 claims+records/s, claim p99 <= 25 ms, zero
   violations) and a reference for the machine (bench/machine.py).

The PostgreSQL server is BENCH_PG_URL (default postgresql://postgres@127.0.0.1:5432/postgres);
the bench creates and drops its own database there. Timings are printed, not asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))  # its sibling modules, also when it is loaded by file path (the tests)

from claims_agents import BAD_ZONE, CAMPAIGN, CLOCK_START, OTHER_ZONE, SCORE_DATE, agent_name, log, run_agents  # noqa: E402
from claims_check import check  # noqa: E402

SIMULATED_HOURS = 12.0  # the run covers 10:00-22:00 UTC unless --speedup says otherwise
TARGET_OPS = 2000.0
TARGET_P99_MS = 25.0


def rules():
    """The contact policy the bench writes into its databases; the checker reads these numbers, not the SQL."""
    from bank_scoring.config import ContactRules

    return ContactRules()


# ---------------------------------------------------------------- the night


def build_night(url: str, n: int, seed: int, csv: Path, model_dir: Path, postgres: bool, agents: int) -> None:
    """A published night of ``n`` customers with other time zones and do-not-call flags, and the agents."""
    from sqlalchemy import text
    from throughput_data import prepare

    from bank_scoring.agents.users import add_user
    from bank_scoring.db import make_db_engine
    from bank_scoring.scoring import score_customers

    prepare(url, n, seed, csv, model_dir, postgres, "hist_gradient_boosting", rules())
    engine = make_db_engine(url)
    try:
        flagged_at = CLOCK_START - dt.timedelta(days=1)
        with engine.begin() as conn:
            conn.execute(text("update customers set time_zone = :z where customer_id % 10 = 3"), {"z": OTHER_ZONE})
            conn.execute(text("update customers set time_zone = :z where customer_id % 20 = 7"), {"z": BAD_ZONE})
            flag(conn, "customer_id % 100 = 11", "do_not_call", flagged_at)
            conn.execute(
                text("insert into campaigns (campaign_name, starts_on, ends_on) values (:n, :s, :e)"),
                dict(zip(("n", "s", "e"), CAMPAIGN, strict=True)),
            )
        os.environ["BANK_SCORING_MODEL_DIR"] = str(model_dir)
        started = time.perf_counter()
        run = score_customers(engine, SCORE_DATE, partitions=4, workers=min(2, os.cpu_count() or 1))
        assert run.status == "published", run
        log(f"  scored and published {run.customers_scored:,} customers in {time.perf_counter() - started:.1f}s")
        with engine.begin() as conn:  # in tonight's pool already: only the policy stops these
            flag(conn, "customer_id % 100 = 13", "do_not_call", flagged_at)
            flag(conn, "customer_id % 200 = 17", "objection", flagged_at)
            pool = conn.execute(text("select count(*) from lead_pool")).scalar_one()
        log(f"  {pool:,} leads in the pool")
        for i in range(agents):
            add_user(engine, agent_name(i), "agent")
    finally:
        engine.dispose()
    settle(url, postgres)


def flag(conn, where: str, kind: str, at: dt.datetime) -> None:
    """Flag the customers ``where`` selects as do-not-call (and objecting), with the record of it."""
    from sqlalchemy import text

    objected = ", has_objected = true" if kind == "objection" else ""
    conn.execute(text(f"update customers set is_do_not_call = true{objected} where {where}"))
    conn.execute(
        text(
            "insert into customer_objections (customer_id, kind, reason, source, recorded_at) "
            f"select customer_id, :k, 'bench set-up', 'bench', :at from customers where {where}"
        ),
        {"k": kind, "at": at},
    )


def settle(url: str, postgres: bool) -> None:
    """Statistics and a vacuumed, checkpointed database, as a production one has before the day starts."""
    from bank_scoring.db import make_db_engine

    engine = make_db_engine(url)
    started = time.perf_counter()
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if postgres:
                conn.exec_driver_sql("vacuum (analyze)")
                try:
                    conn.exec_driver_sql("checkpoint")
                except Exception as exc:  # CHECKPOINT needs a superuser or pg_checkpoint
                    log(f"  no checkpoint ({type(exc).__name__}: {exc})")
            else:
                conn.exec_driver_sql("analyze")
                conn.exec_driver_sql("pragma wal_checkpoint(truncate)")
    finally:
        engine.dispose()
    log(f"  settled (vacuum/analyse, checkpoint) in {time.perf_counter() - started:.1f}s")


# ---------------------------------------------------------------- report


def summarise(label: str, n: int, agents: int, seconds: float, speedup: float, found: list[dict], checked: dict):
    import numpy as np

    start = found[0]["start"]
    wall = max(r["last"] for r in found) - start
    claim_ms = np.array([x for r in found for x in r["claim_ms"]]) if found else np.array([])
    record_ms = np.array([x for r in found for x in r["record_ms"]])
    claims = sum(len(r["claims"]) for r in found)
    records = sum(len(r["records"]) + len(r["releases"]) for r in found)
    failures: dict[str, int] = {}
    first: dict[str, str] = {}
    for r in found:
        for name, count in r["failures"].items():
            failures[name] = failures.get(name, 0) + count
            first.setdefault(name, r["first_failure"][name])

    def pct(values, q):
        return float(np.percentile(values, q)) if len(values) else float("nan")

    return {
        "label": label,
        "customers": n,
        "agents": agents,
        "seconds": max(wall, seconds),
        "speedup": speedup,
        "claims": claims,
        "records": records,
        "releases": sum(len(r["releases"]) for r in found),
        "retries": sum(len(r["retries"]) for r in found),
        "empty": sum(r["counts"]["empty"] for r in found),
        "expired": sum(r["counts"]["expired"] for r in found),
        "ops": (claims + records) / max(wall, seconds),
        "claim_p50": pct(claim_ms, 50),
        "claim_p99": pct(claim_ms, 99),
        "record_p50": pct(record_ms, 50),
        "record_p99": pct(record_ms, 99),
        "failures": failures,
        "first_failure": first,
        "checked": checked,
    }


def figures_table(rows: list[dict]) -> str:
    head = (
        f"{'database':<11} {'customers':>10} {'agents':>6} {'seconds':>7} {'claims':>8} {'records':>8} "
        f"{'(claims+records)/s':>18} {'claim p50 ms':>12} {'claim p99 ms':>12} {'record p50 ms':>13} "
        f"{'record p99 ms':>13}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['label']:<11} {r['customers']:>10,} {r['agents']:>6} {r['seconds']:>7.1f} {r['claims']:>8,} "
            f"{r['records']:>8,} {r['ops']:>18,.0f} {r['claim_p50']:>12.1f} {r['claim_p99']:>12.1f} "
            f"{r['record_p50']:>13.1f} {r['record_p99']:>13.1f}"
        )
    return "\n".join(lines)


def proofs_table(rows: list[dict]) -> str:
    checked = [r["checked"] for r in rows]
    extras = (
        ("empty answers (no lead callable)", "empty"),
        ("releases (counted as records)", "releases"),
        ("records sent twice (retries)", "retries"),
        ("records refused: lease ran out", "expired"),
    )
    names = [*checked[0]["violations"], *checked[0]["broken"], *checked[0]["seen"], *(n for n, _ in extras)]
    width = max(len(n) for n in names) + 4

    def line(name: str, values, indent: int = 2) -> str:
        return " " * indent + f"{name:<{width - indent}}" + "".join(f"{v:>12,}" for v in values)

    lines = ["checker: every claim and outcome re-read, the rules recomputed in pandas (not the policy SQL)"]
    lines.append(" " * width + "".join(f"{r['label']:>12}" for r in rows))
    for name in checked[0]["violations"]:
        lines.append(line(name, [c["violations"][name] for c in checked]))
    lines.append(line("violations", [sum(c["violations"].values()) for c in checked]))
    lines.append("  cool-downs broken, by rule:")
    for rule in checked[0]["broken"]:
        lines.append(line(rule, [c["broken"][rule] for c in checked], 4))
    lines.append("  leads outside their calling window, of which:")
    lines.append(line("handed out with a zone that does not exist", [c["invalid_zone"] for c in checked], 4))
    lines.append("  what the run exercised:")
    for name in checked[0]["seen"]:
        lines.append(line(name, [c["seen"][name] for c in checked], 4))
    for name, key in extras:
        lines.append(line(name, [r[key] for r in rows], 4))
    return "\n".join(lines)


def targets_table(rows: list[dict]) -> str:
    def mark(ok: bool) -> str:
        return "met" if ok else "NOT met"

    lines = ["targets (the issue's, for PostgreSQL with 32 agents on a 2-core machine):"]
    for r in rows:
        violations = sum(r["checked"]["violations"].values())
        lines.append(
            f"  {r['label']:<11} {r['agents']:>2} agents: (claims+records)/s {r['ops']:>7,.0f} >= {TARGET_OPS:,.0f} "
            f"{mark(r['ops'] >= TARGET_OPS):<8} claim p99 {r['claim_p99']:6.1f} ms <= {TARGET_P99_MS:.0f} ms "
            f"{mark(r['claim_p99'] <= TARGET_P99_MS):<8} violations {violations} = 0 {mark(violations == 0)}"
        )
    return "\n".join(lines)


def failures_lines(rows: list[dict]) -> str:
    lines = []
    for r in rows:
        for name, count in r["failures"].items():
            lines.append(f"  {r['label']}: {count:,} x {name}: {r['first_failure'][name]}")
    return (
        ("errors raised to the agents (each counted, the agent carried on):\n" + "\n".join(lines))
        if lines
        else ("errors raised to the agents: none")
    )


# ---------------------------------------------------------------- main


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("--quick", action="store_true", help="CI size: 20,000 customers, 8 + 4 agents, 10 s")
    parser.add_argument("--customers", type=int, help="customers in the night (default 1,000,000; 20,000 with --quick)")
    parser.add_argument("--agents", type=int, help="agent processes on PostgreSQL (default 32; 8 with --quick)")
    parser.add_argument("--sqlite-agents", type=int, help="agent processes on SQLite (default 4)")
    parser.add_argument("--seconds", type=float, help="how long the agents work (default 60; 10 with --quick)")
    parser.add_argument(
        "--speedup",
        type=float,
        help=f"simulated seconds per wall second (default: the run covers {SIMULATED_HOURS:g} simulated hours)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--no-machine", action="store_true", help="skip the machine reference")
    parser.add_argument(
        "--csv",
        type=Path,
        default=os.environ.get("BANK_CSV"),
        help="UCI calls to train on, bank.csv or bank-full.csv (default $BANK_CSV)",
    )
    args = parser.parse_args(argv)
    if not args.csv or not Path(args.csv).is_file():
        parser.error("the UCI calls are needed to train the model: pass --csv PATH or set BANK_CSV")
    if args.no_postgres and args.no_sqlite:
        parser.error("--no-postgres and --no-sqlite leave nothing to run")
    n = args.customers or (20_000 if args.quick else 1_000_000)
    pg_agents = args.agents or (8 if args.quick else 32)
    sqlite_agents = args.sqlite_agents or 4
    seconds = args.seconds or (10.0 if args.quick else 60.0)
    speedup = args.speedup or SIMULATED_HOURS * 3600 / seconds
    if n < 1 or pg_agents < 1 or sqlite_agents < 1 or seconds <= 0 or speedup <= 0:
        parser.error("customers, agents, seconds and speed-up must be positive")
    server = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    policy = rules()
    end = CLOCK_START + dt.timedelta(seconds=seconds * speedup)
    print(
        f"agent claims: {n:,} generated customers (seed {args.seed}), night of {SCORE_DATE} published; "
        f"{seconds:g}s of work on a clock from {CLOCK_START:%H:%M} to {end:%H:%M} UTC ({speedup:,.0f}x); "
        f"{os.cpu_count()} cores",
        flush=True,
    )
    databases = []
    if not args.no_postgres:
        databases.append(("PostgreSQL", True, pg_agents))
    if not args.no_sqlite:
        databases.append(("SQLite", False, sqlite_agents))
    rows = []
    reads: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bank_scoring_claims_bench_", ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        for label, postgres, agents in databases:
            from throughput_data import create_pg_database, drop_pg_database

            name = f"bank_scoring_claims_bench_{os.getpid()}"
            url = create_pg_database(server, name) if postgres else f"sqlite:///{work / 'claims.db'}"
            try:
                log(f"{label}: building the night")
                build_night(url, n, args.seed, Path(args.csv), work / f"models_{label.lower()}", postgres, agents)
                log(f"{label}: {agents} agents")
                found = run_agents(url, agents, seconds, speedup, args.seed)
                log(f"{label}: checking")
                started = time.perf_counter()
                checked = check(url, found, policy)
                log(f"  checked in {time.perf_counter() - started:.1f}s")
                if not args.no_machine:
                    from machine import read_reference

                    reads[label] = read_reference(url)
            finally:
                if postgres:
                    drop_pg_database(server, name)
            rows.append(summarise(label, n, agents, seconds, speedup, found, checked))
    print()
    print(figures_table(rows))
    print()
    print(proofs_table(rows))
    print()
    print(failures_lines(rows))
    print()
    print(targets_table(rows))
    if not args.no_machine:
        from machine import cpu_reference, describe

        print("\n" + describe(cpu_reference(), reads))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
