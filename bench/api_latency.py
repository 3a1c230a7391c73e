"""API latency: the tutorial's Flask app beside our desk on POST /api, and the agents' calls through the API.

    python bench/api_latency.py --quick      # CI size: 3 s per level, a night of 20,000 customers
    python bench/api_latency.py              # 10 s per level, a night of 1,000,000 customers

What it does:
1. POST /api, one customer per request, on two servers, each its own process on a
   localhost port:
   - tutorial: the tutorial's app rebuilt in its own shape (bench/tutorial_app.py: Flask,
     a default RandomForestClassifier fitted at start-up on the eight client columns of
     --csv, one-hot encoded with get_dummies; each request is a one-row DataFrame and a
     predict_proba), served as the tutorial served it: Flask's own server (app.run,
     Werkzeug's development server, threaded);
   - ours: `bank-scoring serve` (uvicorn, --workers, default 1) on a database (PostgreSQL;
     SQLite with --no-postgres) whose champion was trained from --csv by the project's
     training (train_model, its default estimator), called with an agent's API token.
   Both get the same bodies: the eight client columns of the rows of --csv, each client
   going through them from its own starting row. For each number of clients (--clients,
   default 1,8,32) a load generator in its own process (asyncio; a minimal HTTP/1.1 client,
   one keep-alive connection per client) sends, per client, one request at a time:
   --warmup seconds (default 2) not measured, then --seconds (default 10) measured.
   A request's latency runs from sending it to the last byte of its answer; an error is
   any answer but 200 or a failed connection. Printed beside, over the measured seconds:
   the CPU of the client, of the server (psutil: the server process and its children) and,
   on PostgreSQL, of the database sessions serving ours, so that a saturated client or an
   idle server shows; the database sessions opened (pg_stat_database: a connection pool
   that opens and closes connections under load shows there); the 1-minute load average.
2. Next lead + record outcome through the API, on PostgreSQL: a published night of
   --customers (bench/agent_claims.py's build_night: generated customers, other and
   invalid time zones, do-not-call flags, a campaign, scored and published with
   score_customers), --agents agents (default 8) each with its own API token, and the
   contact policy's calling hours widened to the whole day, since the server runs on the
   wall clock and the bench may run at any hour. Our server on that database; each of the
   --agents clients loops: POST /api/v1/leads/next, then POST /api/v1/leads/{id}/outcome
   with an outcome drawn from agent_claims' mix without its releases (no answer, declined,
   call back 20 min to 3 h ahead, subscribed, do not call). Same warm-up and duration,
   the same CPU figures, and the mean time of the two SQL functions inside the database
   (pg_stat_user_functions, with track_functions set on the bench's database).
3. Prints the tables, the ratio of our requests per second to the tutorial's at each level,
   the targets beside the figures (p99 <= 20 ms at 8 clients for POST /api and for both
   agents' calls; >= 10x the tutorial's requests per second) and the machine reference
   (bench/machine.py).

The PostgreSQL server is BENCH_PG_URL (default postgresql://postgres@127.0.0.1:5432/postgres);
the bench creates and drops its own databases there; its SQLite file, models, logs and
server processes go with the run. Timings are printed, not asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from latency_load import http_request, run_load  # noqa: E402
from latency_servers import (  # noqa: E402
    build_leads_db,
    build_predict_db,
    free_port,
    function_times,
    log,
    our_server,
    tutorial_server,
)

TUTORIAL_FIELDS = ("age", "job", "marital", "education", "default", "balance", "housing", "loan")
TARGET_P99_MS = 20.0
TARGET_CLIENTS = 8
TARGET_RATIO = 10.0


# ---------------------------------------------------------------- report


def summarise(found: dict, seconds: float) -> dict:
    import numpy as np

    rows = {}
    for name, call in found["calls"].items():
        ms = np.array(call["latencies"]) * 1000
        errors = sum(call["errors"].values())
        rows[name] = {
            "requests": len(ms) + errors,
            "rate": len(ms) / seconds,
            "p50": float(np.percentile(ms, 50)) if len(ms) else float("nan"),
            "p99": float(np.percentile(ms, 99)) if len(ms) else float("nan"),
            "errors": errors,
            "first": {k: (call["errors"][k], v) for k, v in call["first"].items()},
        }
    server, database = found.get("server_cpu_s"), found.get("database_cpu_s")
    return {
        "calls": rows,
        "empty": found["counts"]["empty"],
        "client_cpu": found["client_cpu_s"] / seconds,
        "server_cpu": None if server is None else server / seconds,
        "database_cpu": None if database is None else database / seconds,
        "sessions": found.get("sessions"),
        "load": found["load"],
    }


def percent(share: float | None, missing: str = "-") -> str:
    return missing if share is None else f"{share * 100:.0f}%"


def predict_table(rows: list[tuple[str, int, dict]]) -> str:
    head = (
        f"{'app':<9} {'clients':>7} {'requests':>9} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
        f"{'client CPU':>10} {'server CPU':>10} {'db CPU':>6} {'db sessions':>11} {'load':>5}"
    )
    lines = [head, "-" * len(head)]
    for app, clients, s in rows:
        c = s["calls"]["POST /api"]
        lines.append(
            f"{app:<9} {clients:>7} {c['requests']:>9,} {c['rate']:>8,.1f} {c['p50']:>7.2f} {c['p99']:>7.2f} "
            f"{c['errors']:>6,} {percent(s['client_cpu']):>10} {percent(s['server_cpu']):>10} "
            f"{percent(s['database_cpu'], '-' if s['sessions'] is None else 'n/a'):>6} "
            f"{'-' if s['sessions'] is None else s['sessions']:>11} "
            f"{s['load']:>5.1f}"
        )
    return "\n".join(lines)


def ratios(rows: list[tuple[str, int, dict]]) -> dict[int, float]:
    rate = {(app, clients): s["calls"]["POST /api"]["rate"] for app, clients, s in rows}
    return {
        clients: rate[("ours", clients)] / rate[("tutorial", clients)]
        for app, clients, _ in rows
        if app == "ours" and rate.get(("tutorial", clients))
    }


def leads_table(s: dict) -> str:
    head = f"{'call':<15} {'requests':>9} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}"
    lines = [head, "-" * len(head)]
    for name, c in s["calls"].items():
        lines.append(
            f"{name:<15} {c['requests']:>9,} {c['rate']:>8,.1f} {c['p50']:>7.2f} {c['p99']:>7.2f} {c['errors']:>6,}"
        )
    lines.append(
        f"(empty answers: {s['empty']:,}; CPU, as shares of one core: client {percent(s['client_cpu'])}, "
        f"server {percent(s['server_cpu'])}, database {percent(s['database_cpu'], 'n/a')}; "
        f"database sessions opened: {'-' if s['sessions'] is None else s['sessions']}; "
        f"1-minute load average {s['load']:.1f})"
    )
    functions = s.get("functions")
    if functions:
        lines.append(
            "in the database (pg_stat_user_functions, warm-up included): "
            + ", ".join(f"{name} {ms:.2f} ms mean over {calls:,} calls" for name, (calls, ms) in functions.items())
        )
    return "\n".join(lines)


def errors_lines(labelled: list[tuple[str, dict]]) -> str:
    lines = []
    for label, s in labelled:
        for call, c in s["calls"].items():
            for kind, (count, first) in c["first"].items():
                lines.append(f"  {label}, {call}: {count:,} x {kind}: {first}")
    return ("errors (each counted, the client carried on):\n" + "\n".join(lines)) if lines else "errors: none"


def targets_lines(predict_rows, leads: dict | None) -> str:
    def mark(ok: bool) -> str:
        return "met" if ok else "NOT met"

    lines = ["targets (the issue's):"]
    ours = {clients: s for app, clients, s in predict_rows if app == "ours"}
    p99s = []
    if TARGET_CLIENTS in ours:
        p99s.append(("POST /api (ours)", ours[TARGET_CLIENTS]["calls"]["POST /api"]["p99"]))
    else:
        lines.append(f"  POST /api p99 at {TARGET_CLIENTS} clients: not measured ({TARGET_CLIENTS} not in --clients)")
    if leads is not None:
        p99s += [(name, c["p99"]) for name, c in leads["calls"].items()]
    for name, p99 in p99s:
        lines.append(
            f"  {name + ' p99 at ' + str(TARGET_CLIENTS) + ' clients':<40} {p99:8.2f} ms <= {TARGET_P99_MS:.0f} ms  "
            f"{mark(p99 <= TARGET_P99_MS)}"
        )
    for clients, ratio in ratios(predict_rows).items():
        label = f"ours/tutorial req/s at {clients} client{'s' if clients > 1 else ''}"
        lines.append(f"  {label:<40} {ratio:8.1f}x    >= {TARGET_RATIO:.0f}x    {mark(ratio >= TARGET_RATIO)}")
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def read_bodies(csv: Path) -> list[bytes]:
    """The eight client columns of every row of the UCI file, as the tutorial's JSON."""
    import pandas as pd

    frame = pd.read_csv(csv, sep=";", usecols=list(TUTORIAL_FIELDS))
    frame = frame[frame["age"].between(18, 110)]
    return [json.dumps(row).encode() for row in frame[list(TUTORIAL_FIELDS)].to_dict(orient="records")]


def measure_predict(args, csv: Path, work: Path, url: str, label: str) -> tuple[list, str]:
    bodies = read_bodies(csv)
    random.Random(args.seed).shuffle(bodies)
    log(f"POST /api: building ours on {label}")
    model, token = build_predict_db(url, csv, work / "models")
    rows = []
    servers = (
        ("tutorial", lambda port: tutorial_server(csv, port, work), None),
        ("ours", lambda port: our_server(url, port, args.workers, work, "ours_predict.log"), token),
    )
    for app, make, app_token in servers:
        port = free_port()
        with make(port) as server:
            probe = http_request("POST", "/api", port, bodies[0], app_token)
            log(f"  {app}: answering after {server.wait_ready(probe):.1f}s (pid {server.proc.pid}, port {port})")
            for clients in args.levels:
                spec = {
                    "kind": "predict",
                    "port": port,
                    "token": app_token,
                    "bodies": bodies,
                    "clients": clients,
                    "warmup": args.warmup,
                    "seconds": args.seconds,
                    "seed": args.seed,
                }
                found = run_load(spec, server.proc.pid, url if app == "ours" else None)
                s = summarise(found, args.seconds)
                c = s["calls"]["POST /api"]
                log(f"  {app} x {clients}: {c['rate']:,.1f} req/s, p50 {c['p50']:.2f} ms, p99 {c['p99']:.2f} ms")
                rows.append((app, clients, s))
    return rows, model


def measure_leads(args, csv: Path, work: Path, url: str) -> dict:
    log(f"next lead + record outcome: building a night of {args.customers:,} customers on PostgreSQL")
    tokens = build_leads_db(url, args.customers, args.seed, csv, work / "models_night", args.agents)
    port = free_port()
    with our_server(url, port, args.workers, work, "ours_leads.log") as server:
        probe = http_request("GET", "/api/v1/runs?limit=1", port, token=tokens[0])
        log(f"  ours: answering after {server.wait_ready(probe):.1f}s (pid {server.proc.pid}, port {port})")
        spec = {
            "kind": "leads",
            "port": port,
            "tokens": tokens,
            "warmup": args.warmup,
            "seconds": args.seconds,
            "seed": args.seed,
        }
        found = summarise(run_load(spec, server.proc.pid, url), args.seconds)
    found["functions"] = function_times(url)  # after the server's sessions ended: their statistics are flushed
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("--quick", action="store_true", help="CI size: 3 s per level after 1 s, 20,000 customers")
    parser.add_argument("--seconds", type=float, help="measured seconds per level (default 10; 3 with --quick)")
    parser.add_argument("--warmup", type=float, help="unmeasured seconds before each level (default 2; 1 with --quick)")
    parser.add_argument("--clients", default="1,8,32", help="concurrent clients of POST /api (default 1,8,32)")
    parser.add_argument(
        "--customers", type=int, help="customers in the night for the agents' calls (default 1,000,000; 20,000 quick)"
    )
    parser.add_argument("--agents", type=int, default=TARGET_CLIENTS, help="agents' API clients (default 8)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes of ours (default 1)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-postgres", action="store_true", help="POST /api only, ours on SQLite")
    parser.add_argument("--no-machine", action="store_true", help="skip the machine reference")
    parser.add_argument(
        "--csv",
        type=Path,
        default=os.environ.get("BANK_CSV"),
        help="UCI calls, bank.csv (the tutorial's) or bank-full.csv: both apps train on it (default $BANK_CSV)",
    )
    args = parser.parse_args(argv)
    if not args.csv or not Path(args.csv).is_file():
        parser.error("the UCI calls are needed to train both apps: pass --csv PATH or set BANK_CSV")
    try:
        args.levels = [int(c) for c in args.clients.split(",") if c.strip()]
    except ValueError:
        parser.error(f"--clients must be numbers separated by commas, got {args.clients!r}")
    args.seconds = args.seconds or (3.0 if args.quick else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 2.0)
    args.customers = args.customers or (20_000 if args.quick else 1_000_000)
    if not args.levels or min(args.levels) < 1 or args.seconds <= 0 or args.warmup < 0:
        parser.error("clients and seconds must be positive")
    if args.customers < 1 or args.agents < 1 or args.workers < 1:
        parser.error("customers, agents and workers must be positive")
    csv = Path(args.csv).resolve()
    server_url = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    database = "SQLite" if args.no_postgres else "PostgreSQL"
    print(
        f"api latency: POST /api at {', '.join(map(str, args.levels))} clients, then "
        + ("" if args.no_postgres else f"next lead + record outcome with {args.agents} clients; ")
        + f"{args.seconds:g}s measured after {args.warmup:g}s of warm-up each; {os.cpu_count()} cores",
        flush=True,
    )
    from throughput_data import create_pg_database, drop_pg_database

    leads = None
    reads: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bank_scoring_api_bench_", ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        name = f"bank_scoring_api_bench_{os.getpid()}"
        url = f"sqlite:///{work / 'predict.db'}" if args.no_postgres else create_pg_database(server_url, name)
        if not args.no_postgres:
            log(f"database {name} (dropped at the end)")
        try:
            predict_rows, model = measure_predict(args, csv, work, url, database)
        finally:
            if not args.no_postgres:
                drop_pg_database(server_url, name)
        if not args.no_postgres:
            night = f"bank_scoring_api_bench_night_{os.getpid()}"
            url = create_pg_database(server_url, night)
            log(f"database {night} (dropped at the end)")
            try:
                leads = measure_leads(args, csv, work, url)
                if not args.no_machine:
                    from machine import read_reference

                    reads["PostgreSQL"] = read_reference(url)
            finally:
                drop_pg_database(server_url, night)
    from importlib.metadata import version

    print()
    print(
        f"POST /api, one customer per request ({args.seconds:g}s per level after {args.warmup:g}s of warm-up):\n"
        f"  tutorial: bench/tutorial_app.py, Flask {version('flask')} on Werkzeug's development server "
        "(app.run, threaded), as the tutorial served it;\n"
        f"            RandomForestClassifier(n_estimators=100) on get_dummies of 8 columns of {csv.name}, no auth\n"
        f"  ours:     bank-scoring serve (uvicorn, {args.workers} worker{'s' if args.workers > 1 else ''}) on "
        f"{database}, champion {model} trained on {csv.name}, bearer token\n"
        "  load generator: one process, asyncio, one keep-alive HTTP/1.1 connection per client\n"
        "  CPU: shares of one core over the measured seconds (db: the database sessions serving ours; n/a when\n"
        "  sessions were opened in them, which it would miss); db sessions: opened in the measured seconds;\n"
        "  load: the 1-minute load average at the end of the level"
    )
    print(predict_table(predict_rows))
    print()
    print(
        "ours/tutorial, req/s: "
        + ", ".join(f"{c} client{'s' if c > 1 else ''} {r:.1f}x" for c, r in ratios(predict_rows).items())
    )
    if leads is not None:
        print()
        print(
            f"next lead + record outcome through the API: PostgreSQL, a published night of {args.customers:,} "
            f"customers,\n  {args.agents} clients (each its own agent and token), "
            f"{args.seconds:g}s after {args.warmup:g}s of warm-up; ours with {args.workers} uvicorn worker(s)"
        )
        print(leads_table(leads))
    print()
    labelled = [(f"{app} x {clients}", s) for app, clients, s in predict_rows]
    if leads is not None:
        labelled.append(("agents' calls", leads))
    print(errors_lines(labelled))
    print()
    print(targets_lines(predict_rows, leads))
    if not args.no_machine:
        from machine import cpu_reference, describe

        print("\n" + describe(cpu_reference(), reads))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
