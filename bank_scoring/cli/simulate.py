"""``bank-scoring simulate``: the whole loop on a simulated call centre, with its report."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from bank_scoring.cli.argtypes import positive_arg


def add_commands(sub) -> None:
    """Declare the subcommand (imports nothing heavy)."""
    p = sub.add_parser(
        "simulate",
        help="run the loop on a simulated call centre and report what it earns",
        description="Each simulated day runs the real code on its own database: the campaign roll-over, "
        "nightly scoring, agents taking leads and recording calls under the contact policy, the harvest of "
        "finished calls into training rows, and a retrain through the gate when due. Generated customers "
        "answer with a hidden outcome model whose base rate changes halfway. Prints, per week, "
        "subscriptions per 100 calls for the loop, a frozen model and random calling, and the field "
        "calibration error; writes an HTML page with a chart.",
    )
    p.add_argument("--days", type=positive_arg, default=60, help="simulated days (default 60)")
    p.add_argument("--agents", type=positive_arg, default=20, help="agents (default 20)")
    p.add_argument("--calls-per-agent", type=positive_arg, default=40, help="calls each agent makes a day (default 40)")
    p.add_argument("--customers", type=positive_arg, default=100_000, help="generated customers (default 100,000)")
    p.add_argument("--seed", type=int, default=7, help="seed of the customers and their answers (default 7)")
    p.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2026, 1, 5), help="first day (YYYY-MM-DD)")
    p.add_argument("--regime-day", type=positive_arg, help="first day of the new regime (default: halfway)")
    p.add_argument("--regime-factor", type=float, default=3.0, help="the new base rate over the old (default 3)")
    p.add_argument("--retrain-every", type=positive_arg, default=7, help="days between retrains (default 7)")
    p.add_argument(
        "--out", type=Path, default=Path("var/simulation"), help="folder for the page, models and SQLite database"
    )
    p.add_argument(
        "--database",
        help="an EMPTY database URL to run on (e.g. PostgreSQL); default: a new SQLite file in --out",
    )
    p.set_defaults(func=cmd_simulate)


def cmd_simulate(args) -> int:
    import json
    import logging
    import shutil

    from sqlalchemy import inspect, text

    from bank_scoring.db import make_db_engine
    from bank_scoring.loop.simulate import SimulationConfig, simulate
    from bank_scoring.loop.simulate_report import format_uplift, format_weeks, verdicts, write_page

    config = SimulationConfig(
        days=args.days,
        agents=args.agents,
        calls_per_agent=args.calls_per_agent,
        customers=args.customers,
        seed=args.seed,
        start=args.start,
        regime_day=args.regime_day - 1 if args.regime_day else None,
        regime_factor=args.regime_factor,
        retrain_every=args.retrain_every,
    )
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    models = out / "models"
    if args.database:
        engine = make_db_engine(args.database)
        if "customers" in inspect(engine).get_table_names():
            with engine.connect() as conn:
                if conn.execute(text("select count(*) from customers")).scalar():
                    print(f"error: {args.database} already holds customers; simulate needs an empty database")
                    return 2
    else:
        db_file = out / "simulation.db"
        db_file.unlink(missing_ok=True)
        engine = make_db_engine(f"sqlite:///{db_file}")
    shutil.rmtree(models, ignore_errors=True)
    logging.getLogger("bank_scoring").setLevel(logging.WARNING)
    result = simulate(engine, models, config, say=lambda line: print(line, file=sys.stderr, flush=True))
    weeks = result.weeks()
    print(format_weeks(weeks))
    print(format_uplift(result.uplift))
    for line in verdicts(result, weeks):
        print(line)
    result.calls.to_csv(out / "calls.csv", index=False)
    (out / "config.json").write_text(json.dumps(result.describe(), indent=2) + "\n", encoding="utf-8")
    print(f"report: {write_page(result, out)}")
    engine.dispose()
    return 0
