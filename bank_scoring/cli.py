"""``bank-scoring``: one subcommand per step, each a thin call into the package."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys

from bank_scoring import __version__
from bank_scoring.config import DEFAULT_CHUNK_ROWS, load_settings

log = logging.getLogger("bank_scoring")


def _date(value: str) -> dt.date:
    if value == "today":
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD (or 'today'), got {value!r}") from None


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {number}")
    return number


def _engine(args):
    from bank_scoring.db import make_db_engine

    return make_db_engine(args.db_url)


def _progress(done: int, total: int) -> None:
    """A live counter on a terminal; in a log, one line at the end."""
    if sys.stderr.isatty():
        print(f"\r  {done:,}/{total:,} rows", end="" if done < total else "\n", file=sys.stderr, flush=True)
    elif done >= total:
        print(f"  {done:,}/{total:,} rows written", file=sys.stderr)


def cmd_init_db(args) -> int:
    from bank_scoring.db import apply_roles, init_db, safe_url

    engine = _engine(args)
    applied = init_db(engine)
    print(f"schema ready in {safe_url(args.db_url)} ({len(applied)} files from sql/)")
    if args.roles:
        apply_roles(engine)
        print("roles bank_scoring_pipeline, bank_scoring_agent, bank_scoring_analyst granted (sql/roles.sql)")
    return 0


def _print_load(result) -> None:
    if result.already_loaded:
        print(f"{result.source_name}: already loaded as batch {result.load_batch_id} "
              f"({result.rows:,} customers); nothing changed")
    else:
        dates = "call dates rebuilt from file order" if result.has_rebuilt_dates else \
            "file is not in date order: call years left unknown (month and day kept)"
        print(f"{result.source_name}: loaded {result.rows:,} customers and past calls as batch "
              f"{result.load_batch_id}; {dates}")


def cmd_load_csv(args) -> int:
    from bank_scoring.db import init_db
    from bank_scoring.ingest import load_csv

    engine = _engine(args)
    init_db(engine)
    _print_load(load_csv(engine, args.path, delimiter=args.delimiter, start_year=args.start_year,
                         progress=_progress))
    return 0


def cmd_load_data(args) -> int:
    from bank_scoring.datasets import DataUnavailable, obtain_bank_csv
    from bank_scoring.db import init_db
    from bank_scoring.ingest import load_csv

    engine = _engine(args)
    init_db(engine)
    settings = load_settings()
    try:
        found = obtain_bank_csv(settings.bank_csv, settings.var_dir / "data", url=args.url, timeout=args.timeout)
    except DataUnavailable as exc:
        print(f"UCI data unavailable: {exc}", file=sys.stderr)
        if not args.synthetic_if_unavailable:
            print("Set BANK_CSV to a local copy of bank-full.csv, or pass --synthetic-if-unavailable N.",
                  file=sys.stderr)
            return 1
        print(f"Falling back to {args.synthetic_if_unavailable:,} synthetic customers (seed {args.seed}); "
              "set BANK_CSV to use the real data.", file=sys.stderr)
        return _generate_into_db(engine, args.synthetic_if_unavailable, args.seed)
    for warning in found.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"data: {found.path} ({found.rows:,} rows, sha256 {found.sha256[:12]}..., from {found.origin})")
    _print_load(load_csv(engine, found.path, progress=_progress))
    return 0


def _generate_into_db(engine, customers: int, seed: int) -> int:
    from bank_scoring.generate import generate_calls, synthetic_fingerprint
    from bank_scoring.ingest import load_frame

    frame = generate_calls(customers, seed=seed)
    _print_load(load_frame(engine, frame, f"synthetic(n={customers},seed={seed})",
                           synthetic_fingerprint(customers, seed), progress=_progress))
    return 0


def cmd_generate(args) -> int:
    from bank_scoring.generate import generate_calls, write_uci_csv

    if args.out:
        path = write_uci_csv(generate_calls(args.customers, seed=args.seed), args.out)
        print(f"wrote {args.customers:,} synthetic customers to {path}")
        return 0
    from bank_scoring.db import init_db

    engine = _engine(args)
    init_db(engine)
    return _generate_into_db(engine, args.customers, args.seed)


def _fmt_metric(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def cmd_train(args) -> int:
    from bank_scoring.train import train_model

    settings = load_settings()
    result = train_model(_engine(args), settings.model_dir, estimator=args.estimator,
                         window_start=args.window_start, window_end=args.window_end, seed=args.seed,
                         promote=args.promote, actor=args.actor)
    m = result.metrics
    verb = "reused" if result.reused else "trained"
    print(f"model v{result.model_version} ({result.algorithm}) {verb} on {result.training_rows:,} calls "
          f"in {result.seconds:.1f}s: status {result.status}")
    print(f"  holdout ROC AUC {_fmt_metric(m.get('roc_auc'))}, PR AUC {_fmt_metric(m.get('pr_auc'))}, "
          f"top-decile lift {_fmt_metric(m.get('lift_top_decile'))}, Brier {_fmt_metric(m.get('brier_score'))}")
    print(f"  decision: {result.decision}")
    return 0


def cmd_models(args) -> int:
    from bank_scoring import registry

    engine = _engine(args)
    if args.models_command == "promote":
        registry.promote(engine, args.version, args.reason, args.actor)
        print(f"model v{args.version} is now the champion")
        return 0
    if args.models_command == "rollback":
        version = registry.rollback(engine, args.reason, args.actor)
        print(f"rolled back: model v{version} is the champion again")
        return 0
    if args.models_command == "history":
        for event in registry.events(engine, args.version):
            print(f"{event['created_at']}  v{event['model_version']:<4} {event['event']:<10} "
                  f"by {event['actor']}: {event['reason']}")
        return 0
    versions = registry.list_versions(engine)
    if not versions:
        print("no models yet: run `bank-scoring train`")
        return 0
    print(f"{'version':>7}  {'status':<9}  {'algorithm':<23}  {'rows':>7}  {'ROC AUC':>7}  {'PR AUC':>7}  "
          f"{'lift@10%':>8}  {'Brier':>7}  created")
    for v in versions:
        print(f"{v.model_version:>7}  {v.status:<9}  {v.algorithm:<23}  {v.training_rows:>7,}  "
              f"{_fmt_metric(v.roc_auc):>7}  {_fmt_metric(v.pr_auc):>7}  {_fmt_metric(v.lift_top_decile):>8}  "
              f"{_fmt_metric(v.brier_score):>7}  {v.created_at}")
    return 0


def cmd_report(args) -> int:
    from bank_scoring import registry
    from bank_scoring.report import evaluation_path, write_report

    engine = _engine(args)
    version = args.version or registry.require_champion(engine).model_version
    found = registry.get_version(engine, version)
    if not evaluation_path(found.artifact_path).is_file():
        print(f"bank-scoring report: model v{version} was trained before reports existed (no "
              f"{evaluation_path(found.artifact_path).name}); retrain to get one", file=sys.stderr)
        return 2
    print(write_report(engine, version))
    return 0


def _print_run(run) -> None:
    print(f"run {run.run_id} for {run.score_date}: {run.status} with model v{run.model_version}; "
          f"{run.customers_scored or 0:,} customers scored, {run.customers_rejected or 0:,} rejected"
          + (f" in {run.seconds:.1f}s" if run.seconds is not None else "")
          + (f"; largest drift (PSI) {run.max_psi:.3f}" if run.max_psi is not None else "")
          + (f"; DRIFT ALERT: {run.drift_alert}" if run.drift_alert else "")
          + (f"; error: {run.error}" if run.error else ""))


def cmd_score(args) -> int:
    from bank_scoring.score import score_customers

    settings = load_settings()
    run = score_customers(_engine(args), args.date, partitions=args.partitions or settings.partitions,
                          chunk_rows=args.chunk_rows or settings.chunk_rows, model_version=args.model_version,
                          workers=args.workers or 1, reason_rows=settings.reason_rows,
                          progress=lambda i, n, c: print(f"  partition {i}/{n}: {c['scored']:,} scored, "
                                                         f"{c['rejected']:,} rejected", file=sys.stderr))
    _print_run(run)
    return 0


def cmd_runs(args) -> int:
    from bank_scoring.score import list_runs

    runs = list_runs(_engine(args), args.limit)
    if not runs:
        print("no scoring runs yet")
    for run in runs:
        _print_run(run)
    return 0


def cmd_rejects(args) -> int:
    from sqlalchemy import text

    engine = _engine(args)
    with engine.connect() as conn:
        run_id = args.run or conn.execute(text("select max(run_id) from scoring_runs")).scalar()
        rows = conn.execute(text("select customer_id, reason from scoring_rejects where run_id = :r "
                                 "order by customer_id limit :n"), {"r": run_id, "n": args.limit}).all()
    print(f"run {run_id}: {len(rows)} reject(s) shown")
    for row in rows:
        print(f"  customer {row.customer_id}: {row.reason}")
    return 0


def cmd_worklist(args) -> int:
    from bank_scoring.worklist import fetch_worklist, format_worklist

    frame = fetch_worklist(_engine(args), score_date=args.date, limit=args.limit, band=args.band)
    if args.json:
        print(frame.to_json(orient="records", date_format="iso"))
    else:
        print(format_worklist(frame))
    return 0


def cmd_summary(args) -> int:
    """What the demo ends with: data loaded, the champion, the night's counts, the top leads."""
    from sqlalchemy import text

    from bank_scoring import registry
    from bank_scoring.db import table_counts
    from bank_scoring.worklist import fetch_worklist, format_worklist

    engine = _engine(args)
    counts = table_counts(engine, ("customers", "campaign_contacts"))
    print(f"Data: {counts['customers']:,} customers, {counts['campaign_contacts']:,} past calls")
    champ = registry.champion(engine)
    if champ is None:
        print("Model: none yet")
    else:
        metrics = json.loads(_metrics_json(engine, champ.model_version))
        print(f"Model: v{champ.model_version} ({champ.algorithm}), champion since {champ.promoted_at}; holdout "
              f"ROC AUC {champ.roc_auc:.3f}, PR AUC {champ.pr_auc:.3f}, top-decile lift "
              f"{champ.lift_top_decile:.2f}, Brier {champ.brier_score:.4f}, "
              f"calibration error {metrics.get('expected_calibration_error', float('nan')):.4f}")
        with engine.connect() as conn:
            report = conn.execute(text("select report_path from model_versions where model_version = :v"),
                                  {"v": champ.model_version}).scalar()
        if report:
            print(f"Model report (open in a browser): {report}")
    with engine.connect() as conn:
        run = conn.execute(text("select run_id, score_date, customers_scored, customers_rejected, seconds, "
                                "model_version from scoring_runs where status = 'published' "
                                + ("and score_date = :d " if args.date else "")
                                + "order by score_date desc, run_id desc limit 1"),
                           {"d": args.date} if args.date else {}).first()
    if run is None:
        print("Scores: no published run" + (f" for {args.date}" if args.date else ""))
        return 1
    print(f"Scores for {run.score_date}: {run.customers_scored:,} customers scored, {run.customers_rejected:,} "
          f"rejected (run {run.run_id}, model v{run.model_version}, {run.seconds or 0:.1f}s)")
    print(f"\nAgents' worklist, top {args.limit}:")
    print(format_worklist(fetch_worklist(engine, score_date=args.date, limit=args.limit)))
    return 0


def _metrics_json(engine, version: int) -> str:
    from sqlalchemy import text

    with engine.connect() as conn:
        return conn.execute(text("select metrics_json from model_versions where model_version = :v"),
                            {"v": version}).scalar_one()


def build_parser() -> argparse.ArgumentParser:
    from bank_scoring.train import ESTIMATORS, PROMOTE_MODES
    from bank_scoring.worklist import BAND_NAMES

    settings = load_settings()
    parser = argparse.ArgumentParser(
        prog="bank-scoring",
        description="Batch lead scoring for a bank's call centre: load past calls, train a propensity model, "
                    "score every customer nightly, and print the agents' worklist.",
        epilog="Configuration: BANK_SCORING_DB_URL (database), BANK_SCORING_MODEL_DIR (artifacts), "
               "BANK_CSV (UCI file for load-data).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--db-url", default=settings.db_url,
                        help="SQLAlchemy URL of the bank database "
                             "(default: $BANK_SCORING_DB_URL or var/bank_scoring.db)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each step")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("init-db", help="create the tables and views (safe to run again)",
                       description="Create every table, index and view from sql/ that is missing.")
    p.add_argument("--roles", action="store_true",
                   help="also create the PostgreSQL roles and grants of sql/roles.sql (run as the schema owner)")
    p.set_defaults(func=cmd_init_db)

    p = sub.add_parser("load-csv", help="load a UCI Bank Marketing CSV into customers and past calls",
                       description="Validate and load a UCI-format file (';'-separated, header). A file with a bad "
                                   "value is refused whole, naming line and field. Loading the same file twice "
                                   "changes nothing.")
    p.add_argument("path", help="bank-full.csv, bank.csv or a file in the same format")
    p.add_argument("--delimiter", default=";", help="field separator (default ';')")
    p.add_argument("--start-year", type=int, default=2008, help="year of the file's first call (default 2008)")
    p.set_defaults(func=cmd_load_csv)

    p = sub.add_parser("load-data", help="load BANK_CSV, or download UCI's bank-full.csv, and load it",
                       description="Load the file named by BANK_CSV; without it download UCI's archive into "
                                   "var/data, check the CSV and load it.")
    p.add_argument("--url", default="https://archive.ics.uci.edu/static/public/222/bank+marketing.zip")
    p.add_argument("--timeout", type=float, default=30.0, help="download timeout in seconds")
    p.add_argument("--synthetic-if-unavailable", type=_positive, metavar="N",
                   help="with no data to be had, load N synthetic customers instead")
    p.add_argument("--seed", type=int, default=42, help="seed for the synthetic fallback")
    p.set_defaults(func=cmd_load_data)

    p = sub.add_parser("generate", help="synthetic customers and past calls following the UCI distributions",
                       description="Generate N synthetic customers, each with one past call, reproducibly from "
                                   "a seed. Loads them into the database, or writes a UCI-format CSV with --out.")
    p.add_argument("--customers", type=_positive, required=True, metavar="N")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", help="write a UCI-format CSV here instead of loading the database")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("train", help="train a model, register it, promote it when better",
                       description="Train on past calls (duration is never a feature), measure it on a stratified "
                                   "20%% holdout, register the artifact and promote it when it beats the champion "
                                   "on the same held-out calls.")
    p.add_argument("--estimator", choices=ESTIMATORS, default="auto",
                   help="'auto' (default) cross-validates every candidate on the training calls and keeps the "
                        "best; or name one")
    p.add_argument("--window-start", type=_date, help="first call date to train on (YYYY-MM-DD)")
    p.add_argument("--window-end", type=_date, help="last call date to train on (YYYY-MM-DD)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--promote", choices=PROMOTE_MODES, default="if_better")
    p.add_argument("--actor", default="cli", help="who asked, for the registry history")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("models", help="list model versions; promote or roll back; show the decision history",
                       description="The model registry.")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION")
    msub.add_parser("list", help="list versions (default)", description="List every model version.")
    mp = msub.add_parser("promote", help="make a version the champion", description="Make VERSION the champion.")
    mp.add_argument("version", type=_positive)
    mp.add_argument("--reason", required=True, help="why, for the history")
    mp.add_argument("--actor", default="cli")
    mr = msub.add_parser("rollback", help="make the previous champion the champion again",
                         description="Make the previously promoted version the champion again (recorded).")
    mr.add_argument("--reason", required=True, help="why, for the history")
    mr.add_argument("--actor", default="cli")
    mh = msub.add_parser("history", help="registry decisions, oldest first", description="Show registry decisions.")
    mh.add_argument("--version", type=_positive, help="only this version")
    p.set_defaults(func=cmd_models, models_command="list")

    p = sub.add_parser("score", help="score every customer for a date and publish the run",
                       description="Score every customer with the champion for DATE, in partitions and chunks; "
                                   "publish the run for agents in one transaction. Rerunning a date replaces it.")
    p.add_argument("--date", type=_date, required=True, help="score date, YYYY-MM-DD or 'today'")
    p.add_argument("--partitions", type=_positive, help="customer-id ranges (default $BANK_SCORING_PARTITIONS or 2)")
    p.add_argument("--chunk-rows", type=_positive,
                   help=f"customers read at a time (default $BANK_SCORING_CHUNK_ROWS or {DEFAULT_CHUNK_ROWS})")
    p.add_argument("--model-version", type=_positive, help="score with this version instead of the champion")
    p.add_argument("--workers", type=_positive,
                   help="processes scoring partitions at once, this one included (default 1; use the number "
                        "of cores)")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("report", help="write a model version's HTML report and print where it is",
                       description="Write (or refresh) the HTML report of a model version, with its charts: gains "
                                   "and lift by decile, calibration, score distribution, ROC, feature importance, "
                                   "the comparison with the champion and the drift of recent nightly runs. "
                                   "Prints the path of index.html.")
    p.add_argument("version", nargs="?", type=_positive, help="model version (default: the champion)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("runs", help="recent scoring runs with their counts", description="List scoring runs.")
    p.add_argument("--limit", type=_positive, default=20)
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("rejects", help="customers a run could not score, with the reason",
                       description="List scoring_rejects of a run (default: the latest).")
    p.add_argument("--run", type=_positive)
    p.add_argument("--limit", type=_positive, default=50)
    p.set_defaults(func=cmd_rejects)

    p = sub.add_parser("worklist", help="the agents' worklist, best leads first",
                       description="Best leads first from the latest published run, or from --date.")
    p.add_argument("--date", type=_date, help="a published score date (default: the latest)")
    p.add_argument("--limit", type=_positive, default=20)
    p.add_argument("--band", choices=BAND_NAMES, help="only this band")
    p.add_argument("--json", action="store_true", help="JSON records instead of a table")
    p.set_defaults(func=cmd_worklist)

    p = sub.add_parser("summary", help="data, champion model, the night's counts and the top leads",
                       description="What a manager wants to see after a run.")
    p.add_argument("--date", type=_date, help="score date (default: the latest published)")
    p.add_argument("--limit", type=_positive, default=20)
    p.set_defaults(func=cmd_summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
    except ValueError as exc:  # a bad setting in the environment
        print(f"bank-scoring: configuration error: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from sqlalchemy.exc import SQLAlchemyError

    from bank_scoring.ingest import IngestError
    from bank_scoring.registry import ModelIntegrityError, NoChampionError
    from bank_scoring.score import ScoringError
    from bank_scoring.validate import TrainingDataError

    try:
        return args.func(args)
    except (IngestError, TrainingDataError, ValueError, LookupError) as exc:
        print(f"bank-scoring {args.command}: {exc}", file=sys.stderr)
        return 2
    except (ModelIntegrityError, NoChampionError, ScoringError) as exc:
        print(f"bank-scoring {args.command}: {exc}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        # The driver's first line says what went wrong; SQLAlchemy never puts the password in it.
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        hint = ""
        if args.command == "score":
            hint = (f"; nothing was published, agents still see the previous published run; "
                    f"rerun `bank-scoring score --date {args.date}` when the database is back")
        print(f"bank-scoring {args.command}: database error: {detail}{hint}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
