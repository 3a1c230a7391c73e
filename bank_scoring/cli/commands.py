"""One function per subcommand: call the package, print the outcome, return the exit code.

Each command imports what it uses when it runs, so building the parser (and ``--help``)
stays free of pandas, numpy and scikit-learn.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bank_scoring.config import load_settings


def _engine(args):
    from bank_scoring.db import make_db_engine

    return make_db_engine(args.db_url)


def _progress(done: int, total: int) -> None:
    """A live counter on a terminal; in a log, one line at the end."""
    if sys.stderr.isatty():
        print(f"\r  {done:,}/{total:,} rows", end="" if done < total else "\n", file=sys.stderr, flush=True)
    elif done >= total:
        print(f"  {done:,}/{total:,} rows written", file=sys.stderr)


def _fmt(value, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


# --- data ---------------------------------------------------------------------------------


def cmd_init_db(args) -> int:
    from bank_scoring.db import apply_roles, init_db, safe_url

    engine = _engine(args)
    applied = init_db(engine, load_settings().contact_rules)
    print(f"schema ready in {safe_url(args.db_url)} ({len(applied)} files from sql/)")
    if args.roles:
        apply_roles(engine)
        print("roles bank_scoring_pipeline, bank_scoring_agent, bank_scoring_analyst granted (sql/roles.sql)")
    return 0


def _print_load(result) -> None:
    if result.already_loaded:
        print(
            f"{result.source_name}: already loaded as batch {result.load_batch_id} "
            f"({result.rows:,} customers); nothing changed"
        )
    else:
        dates = (
            "call dates rebuilt from file order"
            if result.has_rebuilt_dates
            else "file is not in date order: call years left unknown (month and day kept)"
        )
        print(
            f"{result.source_name}: loaded {result.rows:,} customers and past calls as batch "
            f"{result.load_batch_id}; {dates}"
        )


def cmd_load_csv(args) -> int:
    from bank_scoring.db import init_db
    from bank_scoring.ingest import load_csv

    engine = _engine(args)
    init_db(engine)
    _print_load(load_csv(engine, args.path, delimiter=args.delimiter, start_year=args.start_year, progress=_progress))
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
            print(
                "Set BANK_CSV to a local copy of bank-full.csv, or pass --synthetic-if-unavailable N.", file=sys.stderr
            )
            return 1
        print(
            f"Falling back to {args.synthetic_if_unavailable:,} synthetic customers (seed {args.seed}); "
            "set BANK_CSV to use the real data.",
            file=sys.stderr,
        )
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
    _print_load(
        load_frame(
            engine,
            frame,
            f"synthetic(n={customers},seed={seed})",
            synthetic_fingerprint(customers, seed),
            progress=_progress,
        )
    )
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


# --- models -------------------------------------------------------------------------------


def cmd_train(args) -> int:
    from bank_scoring.training import train_model

    settings = load_settings()
    engine = _engine(args)
    result = train_model(
        engine,
        settings.model_dir,
        estimator=args.estimator,
        window_start=args.window_start,
        window_end=args.window_end,
        seed=args.seed,
        promote=args.promote,
        actor=args.actor,
    )
    m = result.metrics
    verb = "reused" if result.reused else "trained"
    print(
        f"model v{result.model_version} ({result.algorithm}) {verb} on {result.training_rows:,} calls "
        f"in {result.seconds:.1f}s: status {result.status}"
    )
    print(
        f"  holdout ROC AUC {_fmt(m.get('roc_auc'))}, PR AUC {_fmt(m.get('pr_auc'))}, "
        f"top-decile lift {_fmt(m.get('lift_top_decile'))}, Brier {_fmt(m.get('brier_score'))}"
    )
    print(f"  decision: {result.decision}")
    if not args.report:
        print(f"  report: not written; run `bank-scoring report {result.model_version}`")
        return 0
    return _ensure_report(engine, result.model_version)


def _ensure_report(engine, version: int) -> int:
    """Print where the version's report is, writing it first when it has none on disk.

    Training registers the version before this runs, so a failure here leaves a usable
    model without its page; the message says how to draw it again.
    """
    from bank_scoring import registry
    from bank_scoring.report import evaluation_path, write_report

    found = registry.get_version(engine, version)
    if found.report_path and Path(found.report_path).is_file():
        print(f"  report: {found.report_path}")
        return 0
    if not evaluation_path(found.artifact_path).is_file():
        print(f"  report: none (model v{version} has no saved evaluation to draw one from)")
        return 0
    try:
        path = write_report(engine, version)
    except Exception as exc:  # noqa: BLE001 - any failure of the charts; the model itself is registered
        print(
            f"bank-scoring train: model v{version} is registered, but its report could not be written: "
            f"{exc}; retry with `bank-scoring report {version}`",
            file=sys.stderr,
        )
        return 1
    print(f"  report: {path}")
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
            print(
                f"{event['created_at']}  v{event['model_version']:<4} {event['event']:<10} "
                f"by {event['actor']}: {event['reason']}"
            )
        return 0
    versions = registry.list_versions(engine)
    if not versions:
        print("no models yet: run `bank-scoring train`")
        return 0
    print(
        f"{'version':>7}  {'status':<9}  {'algorithm':<23}  {'rows':>7}  {'ROC AUC':>7}  {'PR AUC':>7}  "
        f"{'lift@10%':>8}  {'Brier':>7}  created"
    )
    for v in versions:
        print(
            f"{v.model_version:>7}  {v.status:<9}  {v.algorithm:<23}  {v.training_rows:>7,}  "
            f"{_fmt(v.roc_auc):>7}  {_fmt(v.pr_auc):>7}  {_fmt(v.lift_top_decile):>8}  "
            f"{_fmt(v.brier_score):>7}  {v.created_at}"
        )
    return 0


def cmd_report(args) -> int:
    from bank_scoring import registry
    from bank_scoring.report import evaluation_path, write_report

    engine = _engine(args)
    version = args.version or registry.require_champion(engine).model_version
    found = registry.get_version(engine, version)
    if not evaluation_path(found.artifact_path).is_file():
        print(
            f"bank-scoring report: model v{version} has no saved evaluation "
            f"({evaluation_path(found.artifact_path).name}) to draw a report from; retrain to get one",
            file=sys.stderr,
        )
        return 2
    print(write_report(engine, version))
    return 0


# --- scoring and the worklist -------------------------------------------------------------


def _print_run(run) -> None:
    print(
        f"run {run.run_id} for {run.score_date}: {run.status} with model v{run.model_version}; "
        f"{run.customers_scored or 0:,} customers scored, {run.customers_rejected or 0:,} rejected"
        + (f" in {run.seconds:.1f}s" if run.seconds is not None else "")
        + (f"; largest drift (PSI) {run.max_psi:.3f}" if run.max_psi is not None else "")
        + (f"; DRIFT ALERT: {run.drift_alert}" if run.drift_alert else "")
        + (f"; error: {run.error}" if run.error else "")
    )


def cmd_score(args) -> int:
    from bank_scoring.scoring import score_customers

    settings = load_settings()
    run = score_customers(
        _engine(args),
        args.date,
        partitions=args.partitions or settings.partitions,
        chunk_rows=args.chunk_rows or settings.chunk_rows,
        model_version=args.model_version,
        workers=args.workers or 1,
        reason_rows=settings.reason_rows,
        progress=lambda i, n, c: print(
            f"  partition {i}/{n}: {c['scored']:,} scored, {c['rejected']:,} rejected", file=sys.stderr
        ),
    )
    _print_run(run)
    return 0


def cmd_runs(args) -> int:
    from bank_scoring.scoring import list_runs

    runs = list_runs(_engine(args), args.limit)
    if not runs:
        print("no scoring runs yet")
    for run in runs:
        _print_run(run)
    return 0


def cmd_rejects(args) -> int:
    from bank_scoring.scoring import list_rejects

    run_id, rows = list_rejects(_engine(args), args.run, args.limit)
    if run_id is None:
        print("no scoring runs yet")
        return 0
    print(f"run {run_id}: {len(rows)} reject(s) shown")
    for customer_id, reason in rows:
        print(f"  customer {customer_id}: {reason}")
    return 0


def cmd_worklist(args) -> int:
    from bank_scoring.worklist import fetch_worklist, format_worklist

    if args.preview:
        return _preview(args)
    frame = fetch_worklist(_engine(args), score_date=args.date, limit=args.limit, band=args.band)
    if args.json:
        print(frame.to_json(orient="records", date_format="iso"))
    else:
        print(format_worklist(frame))
    return 0


def _preview(args) -> int:
    import json

    from bank_scoring.agents import policy
    from bank_scoring.agents.leads import jsonable
    from bank_scoring.cli.agents import to_utc

    engine = _engine(args)
    found = policy.preview(engine, to_utc(engine, args.at))
    with engine.connect() as conn:
        rules = policy.load_rules(conn)
    print(json.dumps(jsonable(found), indent=2) if args.json else policy.format_preview(found, rules))
    return 0


def cmd_summary(args) -> int:
    """What the demo ends with: data loaded, the champion, the night's counts, the top leads."""
    from bank_scoring import registry
    from bank_scoring.db import table_counts
    from bank_scoring.scoring import latest_published_run
    from bank_scoring.worklist import fetch_worklist, format_worklist

    engine = _engine(args)
    counts = table_counts(engine, ("customers", "campaign_contacts"))
    print(f"Data: {counts['customers']:,} customers, {counts['campaign_contacts']:,} past calls")
    champ = registry.champion(engine)
    if champ is None:
        print("Model: none yet")
    else:
        m = champ.metrics
        print(
            f"Model: v{champ.model_version} ({champ.algorithm}), champion since {champ.promoted_at}; on held-out "
            "calls, ordering within a call day (what orders the list): same-day AUC "
            f"{_fmt(m.get('recent_same_day_auc'), '.3f')} on the most recent, as tonight's list is scored "
            f"({_fmt(m.get('same_day_auc'), '.3f')} over all of them), within-day top-decile lift "
            f"{_fmt(m.get('same_day_lift_top_decile'), '.2f')}; pooled ROC AUC {_fmt(champ.roc_auc, '.3f')}, "
            f"top-decile lift {_fmt(champ.lift_top_decile, '.2f')}, Brier {_fmt(champ.brier_score)}, "
            f"calibration error {_fmt(m.get('expected_calibration_error'))}"
        )
        calibration = m.get("calibration") or {}
        if calibration.get("calls"):
            print(
                f"  tonight's probabilities are brought to the level of the latest {calibration['calls']:,} "
                f"labelled calls (calibration error there {_fmt(calibration.get('error_before'))} before, "
                f"{_fmt(calibration.get('error_after'))} after)"
            )
        if champ.report_path:
            print(f"Model report (open in a browser): {champ.report_path}")
        else:
            print(f"Model report: not written yet; run `bank-scoring report {champ.model_version}`")
    run = latest_published_run(engine, args.date)
    if run is None:
        print("Scores: no published run" + (f" for {args.date}" if args.date else ""))
        return 1
    print(
        f"Scores for {run.score_date}: {run.customers_scored or 0:,} customers scored, "
        f"{run.customers_rejected or 0:,} rejected (run {run.run_id}, model v{run.model_version}, "
        f"{run.seconds or 0:.1f}s)"
    )
    print(f"\nAgents' worklist, top {args.limit}:")
    print(format_worklist(fetch_worklist(engine, score_date=args.date, limit=args.limit)))
    return 0
