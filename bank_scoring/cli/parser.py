"""The ``bank-scoring`` argument parser: every subcommand, its options and its help.

Builds without importing pandas, numpy or scikit-learn, so ``--help`` answers at once:
shared choices come from :mod:`bank_scoring.constants`, and the commands import what they
need when they run.
"""

from __future__ import annotations

import argparse

from bank_scoring import __version__
from bank_scoring.cli import agents, commands, loop, simulate
from bank_scoring.cli.argtypes import date_arg, positive_arg
from bank_scoring.config import DEFAULT_CHUNK_ROWS, load_settings
from bank_scoring.constants import BAND_NAMES, DEFAULT_ESTIMATOR, ESTIMATORS, PROMOTE_MODES

UCI_URL = "https://archive.ics.uci.edu/static/public/222/bank+marketing.zip"


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; raises ValueError on a bad setting in the environment."""
    settings = load_settings()
    parser = argparse.ArgumentParser(
        prog="bank-scoring",
        description="Batch lead scoring for a bank's call centre: load past calls, train a propensity model, "
        "score every customer nightly, and print the agents' worklist.",
        epilog="Configuration: BANK_SCORING_DB_URL (database), BANK_SCORING_MODEL_DIR (artifacts), "
        "BANK_CSV (UCI file for load-data).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--db-url",
        default=settings.db_url,
        help="SQLAlchemy URL of the bank database (default: $BANK_SCORING_DB_URL or var/bank_scoring.db)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log each step")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _data_commands(sub)
    _model_commands(sub)
    _scoring_commands(sub)
    agents.add_commands(sub, commands)
    loop.add_commands(sub)
    simulate.add_commands(sub)
    return parser


def _data_commands(sub) -> None:
    p = sub.add_parser(
        "init-db",
        help="create the tables and views (safe to run again)",
        description="Create every table, index and view from sql/ that is missing, and add the "
        "columns newer releases need. A database it cannot upgrade is refused with "
        "what to do.",
    )
    p.add_argument(
        "--roles",
        action="store_true",
        help="also create the PostgreSQL roles and grants of sql/roles.sql (run as the schema owner)",
    )
    p.set_defaults(func=commands.cmd_init_db)

    p = sub.add_parser(
        "load-csv",
        help="load a UCI Bank Marketing CSV into customers and past calls",
        description="Validate and load a UCI-format file (';'-separated, header). A file with a bad "
        "value is refused whole, naming line and field. Loading the same file twice "
        "changes nothing.",
    )
    p.add_argument("path", help="bank-full.csv, bank.csv or a file in the same format")
    p.add_argument("--delimiter", default=";", help="field separator (default ';')")
    p.add_argument("--start-year", type=int, default=2008, help="year of the file's first call (default 2008)")
    p.set_defaults(func=commands.cmd_load_csv)

    p = sub.add_parser(
        "load-data",
        help="load BANK_CSV, or download UCI's bank-full.csv, and load it",
        description="Load the file named by BANK_CSV; without it download UCI's archive into "
        "var/data, check the CSV and load it.",
    )
    p.add_argument("--url", default=UCI_URL, help="where to download UCI's archive from")
    p.add_argument("--timeout", type=float, default=30.0, help="download timeout in seconds")
    p.add_argument(
        "--synthetic-if-unavailable",
        type=positive_arg,
        metavar="N",
        help="with no data to be had, load N synthetic customers instead",
    )
    p.add_argument("--seed", type=int, default=42, help="seed for the synthetic fallback")
    p.set_defaults(func=commands.cmd_load_data)

    p = sub.add_parser(
        "generate",
        help="synthetic customers and past calls following the UCI distributions",
        description="Generate N synthetic customers, each with one past call, reproducibly from "
        "a seed. Loads them into the database, or writes a UCI-format CSV with --out.",
    )
    p.add_argument("--customers", type=positive_arg, required=True, metavar="N")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", help="write a UCI-format CSV here instead of loading the database")
    p.set_defaults(func=commands.cmd_generate)


def _model_commands(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a model, register it, promote it when better, write its report",
        description="Train on past calls (duration is never a feature), measure it on a stratified "
        "20%% holdout, register the artifact and promote it when it beats the champion "
        "on the same held-out calls; then write the version's HTML report (as "
        "`bank-scoring report` does) unless it has one.",
    )
    p.add_argument(
        "--estimator",
        choices=ESTIMATORS,
        default="auto",
        help="'auto' (default) judges every candidate on the latest training calls by same-day ranking and keeps "
        f"{DEFAULT_ESTIMATOR} unless another is better beyond the noise; or name one",
    )
    p.add_argument("--window-start", type=date_arg, help="first call date to train on (YYYY-MM-DD)")
    p.add_argument("--window-end", type=date_arg, help="last call date to train on (YYYY-MM-DD)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--promote", choices=PROMOTE_MODES, default="if_better")
    p.add_argument("--actor", default="cli", help="who asked, for the registry history")
    p.add_argument(
        "--no-report",
        dest="report",
        action="store_false",
        help="skip the HTML report (write it later with `bank-scoring report VERSION`)",
    )
    p.set_defaults(func=commands.cmd_train)

    p = sub.add_parser(
        "models",
        help="list model versions; promote or roll back; show the decision history",
        description="The model registry.",
    )
    msub = p.add_subparsers(dest="models_command", metavar="ACTION")
    msub.add_parser("list", help="list versions (default)", description="List every model version.")
    mp = msub.add_parser("promote", help="make a version the champion", description="Make VERSION the champion.")
    mp.add_argument("version", type=positive_arg)
    mp.add_argument("--reason", required=True, help="why, for the history")
    mp.add_argument("--actor", default="cli")
    mr = msub.add_parser(
        "rollback",
        help="make the previous champion the champion again",
        description="Make the previously promoted version the champion again (recorded).",
    )
    mr.add_argument("--reason", required=True, help="why, for the history")
    mr.add_argument("--actor", default="cli")
    mh = msub.add_parser("history", help="registry decisions, oldest first", description="Show registry decisions.")
    mh.add_argument("--version", type=positive_arg, help="only this version")
    p.set_defaults(func=commands.cmd_models, models_command="list")

    p = sub.add_parser(
        "report",
        help="write a model version's HTML report and print where it is",
        description="Write (or refresh) the HTML report of a model version, with its charts: gains "
        "and lift by decile, calibration, score distribution, ROC, feature importance, "
        "the comparison with the champion and the drift of recent nightly runs. "
        "Prints the path of index.html.",
    )
    p.add_argument("version", nargs="?", type=positive_arg, help="model version (default: the champion)")
    p.set_defaults(func=commands.cmd_report)


def _scoring_commands(sub) -> None:
    p = sub.add_parser(
        "score",
        help="score every customer for a date and publish the run",
        description="Score every customer with the champion for DATE, in partitions and chunks; "
        "publish the run for agents in one transaction. Rerunning a date replaces it.",
    )
    p.add_argument("--date", type=date_arg, required=True, help="score date, YYYY-MM-DD or 'today'")
    p.add_argument("--partitions", type=positive_arg, help="customer-id ranges (default $BANK_SCORING_PARTITIONS or 2)")
    p.add_argument(
        "--chunk-rows",
        type=positive_arg,
        help=f"customers read at a time (default $BANK_SCORING_CHUNK_ROWS or {DEFAULT_CHUNK_ROWS})",
    )
    p.add_argument("--model-version", type=positive_arg, help="score with this version instead of the champion")
    p.add_argument(
        "--workers",
        type=positive_arg,
        help="processes scoring partitions at once, this one included (default 1; use the number of cores)",
    )
    p.set_defaults(func=commands.cmd_score)

    p = sub.add_parser("runs", help="recent scoring runs with their counts", description="List scoring runs.")
    p.add_argument("--limit", type=positive_arg, default=20)
    p.set_defaults(func=commands.cmd_runs)

    p = sub.add_parser(
        "rejects",
        help="customers a run could not score, with the reason",
        description="List scoring_rejects of a run (default: the latest).",
    )
    p.add_argument("--run", type=positive_arg)
    p.add_argument("--limit", type=positive_arg, default=50)
    p.set_defaults(func=commands.cmd_rejects)

    p = sub.add_parser(
        "worklist",
        help="the agents' worklist, best leads first",
        description="Best leads first from the latest published run, or from --date.",
    )
    p.add_argument("--date", type=date_arg, help="a published score date (default: the latest)")
    p.add_argument("--limit", type=positive_arg, default=20)
    p.add_argument("--band", choices=BAND_NAMES, help="only this band")
    p.add_argument("--json", action="store_true", help="JSON records instead of a table")
    p.add_argument(
        "--preview",
        action="store_true",
        help="instead of the list: how many customers each contact rule holds back, and how many are callable",
    )
    p.add_argument("--at", type=agents.local_time_arg, help="with --preview: at this local time (default now)")
    p.set_defaults(func=commands.cmd_worklist)

    p = sub.add_parser(
        "summary",
        help="data, champion model, the night's counts and the top leads",
        description="What a manager wants to see after a run.",
    )
    p.add_argument("--date", type=date_arg, help="score date (default: the latest published)")
    p.add_argument("--limit", type=positive_arg, default=20)
    p.set_defaults(func=commands.cmd_summary)
