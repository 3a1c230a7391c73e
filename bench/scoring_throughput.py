"""Nightly scoring throughput: our scoring run and a naive pandas batch, same customers, same run.

    python bench/scoring_throughput.py --quick            # 1M customers (CI smoke mode)
    python bench/scoring_throughput.py --customers 10000000

What it does, in order:
1. Trains on bank-full (BANK_CSV or --csv) as `bank-scoring train` does by default (model
   selection among the candidates on the latest calls) and prints how long it took.
2. Generates N customers with the project's generator (seeded blocks, reproducible) and
   bulk-loads them into a fresh PostgreSQL database (and, in quick mode or with --sqlite,
   a SQLite file).
   On PostgreSQL the table is then vacuumed, analysed and checkpointed, as a production
   table is long before the night (settle_pg says why it matters).
3. Runs OUR scoring exactly as the nightly DAG does (start_run, score_partition over id
   ranges in this process and spawned worker processes at once, publish_run:
   `score_customers`), in a child process, so its peak memory is its own.
4. Runs the NAIVE baseline in a child process: read_sql of the whole table, predict,
   rank in pandas, to_sql.
   Before each run of either, the database is checkpointed (checkpoint says why).
5. Prints one table (customers, seconds, customers/s, peak RSS, ratio to naive) and the
   profile of our run: where the seconds went. With --repeat N, steps 3 and 4 alternate N
   times (our runs score N successive nights) and the table shows each contestant's median
   run and the seconds of every run, since single runs vary.
6. Prints a reference for the machine (bench/machine.py): a fixed CPU job in one process
   and in one process per core, and a plain read of the customers table; figures from
   different hosts compare only beside it.

The PostgreSQL server is BENCH_PG_URL (default postgresql://postgres@127.0.0.1:5432/postgres);
the bench creates and drops its own database there. Timings are printed, not asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # its data set-up, also when loaded by file path (the tests)

from throughput_data import (  # noqa: E402
    SCORE_DATE,
    checkpoint,
    create_pg_database,
    drop_pg_database,
    log,
    naive_subset,
    prepare,
)

from bank_scoring.constants import CANDIDATES  # noqa: E402

# ---------------------------------------------------------------- the two contestants (child processes)


def child_ours(url: str, model_dir: str, partitions: int, workers: int, night: int = 0) -> dict:
    os.environ["BANK_SCORING_MODEL_DIR"] = model_dir
    from bank_scoring import scoring
    from bank_scoring.db import make_db_engine

    engine = make_db_engine(url)
    started = time.perf_counter()
    # A repeated run scores the next night, as the nightly DAG would, rather than replacing one.
    run = scoring.score_customers(engine, SCORE_DATE + dt.timedelta(days=night), partitions=partitions, workers=workers)
    seconds = time.perf_counter() - started
    assert run.status == "published", run
    peaks = [scoring.peak_rss_bytes(), *run.profile.worker_peaks]
    return {
        "seconds": seconds,
        "customers": run.customers_total,
        "scored": run.customers_scored,
        "peak_rss": max(peaks),
        "peaks": peaks,
        "profile": run.profile.steps,
    }


def child_naive(url: str, model_dir: str, model_url: str) -> dict:
    """The obvious batch job: whole table into pandas, predict, rank, to_sql (as a tutorial would)."""
    import pandas as pd

    os.environ["BANK_SCORING_MODEL_DIR"] = model_dir
    from bank_scoring import registry
    from bank_scoring.db import make_db_engine
    from bank_scoring.features import counting_the_call, feature_frame, month_name
    from bank_scoring.scoring import peak_rss_bytes

    engine = make_db_engine(url)
    model = registry.load_model(registry.require_champion(make_db_engine(model_url)))
    started = time.perf_counter()
    customers = pd.read_sql("select * from customers", engine)
    features = feature_frame(customers, month_name(SCORE_DATE), SCORE_DATE.day, SCORE_DATE.year)
    propensity = model.predict(counting_the_call(features))
    out = pd.DataFrame({"score_date": SCORE_DATE, "customer_id": customers["customer_id"], "propensity": propensity})
    out["rank"] = out["propensity"].rank(ascending=False, method="first").astype("int64")
    out.to_sql("naive_scores", engine, if_exists="replace", index=False, chunksize=50_000)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "customers": len(out),
        "scored": len(out),
        "peak_rss": peak_rss_bytes(),
        "peaks": [peak_rss_bytes()],
        "profile": {},
    }


def run_child(kind: str, *args) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", kind, *map(str, args)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{kind} run failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- report


def summarise(runs: list[dict]) -> dict:
    """Several runs of one contestant: the median run, with every run's seconds and the largest peak."""
    ordered = sorted(runs, key=lambda r: r["seconds"])
    median = dict(ordered[(len(ordered) - 1) // 2])  # the lower median: an actual run, with its profile
    median["runs"] = [r["seconds"] for r in runs]
    median["peak_rss"] = max(r["peak_rss"] for r in runs)
    return median


def table(rows: list[tuple[str, dict]], baseline: dict | None) -> str:
    repeated = any(len(r.get("runs", [])) > 1 for _, r in rows)
    head = f"{'run':<44} {'customers':>11} {'seconds':>9} {'customers/s':>12} {'peak RSS':>10} {'ratio':>7}"
    lines = [head + ("  seconds of each run" if repeated else ""), "-" * (98 + (22 if repeated else 0))]
    for name, r in rows:
        rate = r["customers"] / r["seconds"]
        ratio = f"{rate / (baseline['customers'] / baseline['seconds']):.1f}x" if baseline else "-"
        each = "  " + ", ".join(f"{t:.1f}" for t in r.get("runs", [])) if repeated else ""
        lines.append(
            f"{name:<44} {r['customers']:>11,} {r['seconds']:>9.1f} {rate:>12,.0f} "
            f"{r['peak_rss'] / 2**20:>7,.0f} MB {ratio:>7}{each}"
        )
    return "\n".join(lines)


def profile_lines(result: dict) -> str:
    prof = result["profile"]
    out = [f"  {name:<34} {seconds:8.2f}s" for name, seconds in prof.items() if not name.startswith("cpu:")]
    cpu = {k: v for k, v in prof.items() if k.startswith("cpu:")}
    if cpu:
        out.append("  inside the partitions (seconds summed over worker processes):")
        out += [f"    {name[4:]:<32} {seconds:8.2f}s" for name, seconds in cpu.items()]
    out.append("  peak RSS per process (MB): " + ", ".join(f"{p / 2**20:.0f}" for p in result["peaks"]))
    return "\n".join(out)


def main(argv=None) -> int:
    from machine import cpu_reference, describe, read_reference

    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1M customers on PostgreSQL and SQLite (CI smoke mode)")
    parser.add_argument("--customers", type=int, help="customers to generate (default 1M quick, else 10M)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--csv", type=Path, default=os.environ.get("BANK_CSV"), help="bank-full.csv to train on (default $BANK_CSV)"
    )
    parser.add_argument("--partitions", type=int, default=8, help="customer-id ranges (default 8)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="worker processes (default: cores)")
    parser.add_argument(
        "--naive-max",
        type=int,
        default=2_000_000,
        help="run the naive baseline only up to this many customers (it holds the whole table "
        "in memory); above it the baseline runs on the first "
        "NAIVE_MAX customers of the same table (default 2M)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run each contestant this many times, alternating, and report the median run "
        "and every run's seconds (default 1)",
    )
    parser.add_argument(
        "--estimator", default="auto", help="the model to train and score with (default auto, as train does)"
    )
    parser.add_argument("--sqlite", action="store_true", help="also run on SQLite (always in --quick)")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        kind, *rest = args.child
        if kind == "ours":
            result = child_ours(rest[0], rest[1], int(rest[2]), int(rest[3]), int(rest[4]))
        else:
            result = child_naive(rest[0], rest[1], rest[2])
        print(json.dumps(result, default=float))
        return 0

    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if not args.csv or not Path(args.csv).is_file():
        parser.error("bank-full.csv is needed to train the model: pass --csv PATH or set BANK_CSV")
    n = args.customers or (1_000_000 if args.quick else 10_000_000)
    sqlite = args.sqlite or args.quick or args.no_postgres
    server = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    # The SQLite files and model artifacts go with the run.
    with tempfile.TemporaryDirectory(prefix="bank_scoring_bench_", ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        print(
            f"scoring throughput: {n:,} generated customers (seed {args.seed}), {args.partitions} partitions, "
            f"{args.workers} workers, {os.cpu_count()} cores; score date {SCORE_DATE}"
        )
        databases = []
        if not args.no_postgres:
            databases.append(("PostgreSQL", True))
        if sqlite:
            databases.append(("SQLite", False))
        train_seconds = None
        reads: dict[str, dict] = {}
        for label, postgres in databases:
            name = f"bank_scoring_bench_{os.getpid()}"
            url = create_pg_database(server, name) if postgres else f"sqlite:///{work / 'bench.db'}"
            model_dir = work / f"models_{label.lower()}"
            try:
                log(f"{label}: preparing")
                seconds = prepare(url, n, args.seed, Path(args.csv), model_dir, postgres, args.estimator)
                train_seconds = train_seconds or seconds
                naive_n = min(n, args.naive_max)
                if naive_n < n:
                    naive_url = naive_subset(url, postgres, server, naive_n, args.seed, work, name)
                else:
                    naive_url = url
                reads[label] = read_reference(url)
                ours_runs, naive_runs = [], []
                for night in range(args.repeat):  # alternating, so a slower spell of the machine hits both
                    of = f" ({night + 1} of {args.repeat})" if args.repeat > 1 else ""
                    log(f"{label}: our scoring run{of}")
                    checkpoint(url)
                    ours_runs.append(run_child("ours", url, model_dir, args.partitions, args.workers, night))
                    log(f"{label}: naive baseline on {naive_n:,} customers{of}")
                    checkpoint(naive_url)
                    naive_runs.append(run_child("naive", naive_url, model_dir, url))
                ours, naive = summarise(ours_runs), summarise(naive_runs)
            finally:
                if postgres:
                    drop_pg_database(server, name)
                    drop_pg_database(server, name + "_naive")
            print(f"\n{label}")
            print(
                table(
                    [
                        (f"ours: score_customers, {args.partitions} partitions, {args.workers} workers", ours),
                        ("naive: read_sql whole table, predict, to_sql", naive),
                    ],
                    naive,
                )
            )
            median = " (the median run)" if args.repeat > 1 else ""
            print(f"\nwhere our {ours['seconds']:.1f}s went ({label}){median}:")
            print(profile_lines(ours))
        how = f"model selection among {len(CANDIDATES)} candidates" if args.estimator == "auto" else args.estimator
        print(f"\ntraining on bank-full ({how}): {train_seconds:.1f}s")
        print("\n" + describe(cpu_reference(), reads))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
