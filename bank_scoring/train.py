"""Train a propensity model from past calls and register it.

The whole scikit-learn Pipeline (encoding plus estimator) is the model, saved as one
artifact, so the preprocessing used at night is always the one it was fitted with.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sqlalchemy import Engine, text

from bank_scoring import registry
from bank_scoring.evaluate import classification_metrics
from bank_scoring.explain import reference_values
from bank_scoring.features import (
    BOOLEAN,
    CALL_NUMERIC,
    CATEGORICAL,
    CUSTOMER_ATTRIBUTES,
    FEATURES,
    NUMERIC,
    CategoryCodes,
    ClipCallYear,
    feature_frame,
    model_columns,
)
from bank_scoring.monitor import training_profile
from bank_scoring.report import save_evaluation, write_report
from bank_scoring.validate import TrainingDataError, check_training_counts, check_training_rows

log = logging.getLogger(__name__)

CANDIDATES = ("hist_gradient_boosting", "random_forest", "logistic_regression")
# "auto": each candidate is cross-validated on the training calls and the best is kept.
ESTIMATORS = ("auto", *CANDIDATES)
SELECTION_FOLDS = 3
DEFAULT_ESTIMATOR = "hist_gradient_boosting"
PROMOTE_MODES = ("if_better", "always", "never")
HOLDOUT_FRACTION = 0.2


def holdout_mask(contact_ids: pd.Series) -> np.ndarray:
    """Which calls are held out: a fixed 20% chosen by a hash of the call's id.

    Not drawn with the training seed: every model, whatever its seed or estimator, is
    evaluated on calls it never trained on, and a challenger and the champion are
    compared on exactly the same unseen calls (a champion scored on calls it was fitted
    on would look better than it is). New calls join the holdout at the same rate.
    """
    ids = contact_ids.to_numpy(dtype=np.uint64)
    mixed = (ids * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)  # Fibonacci hashing, 24 bits
    return (mixed.astype(np.float64) / float(1 << 24)) < HOLDOUT_FRACTION
# The gate (see gate()): paired bootstrap resamples of the holdout, and the calibration
# error a champion may have at most (issue 4's target for real probabilities).
BOOTSTRAP_RESAMPLES = 1000
REFERENCE_SAMPLE_ROWS = 5_000
CALIBRATION_LIMIT = 0.02


@dataclass
class TrainResult:
    model_version: int
    algorithm: str
    status: str
    metrics: dict
    reused: bool
    decision: str
    seconds: float
    training_rows: int
    champion_metrics: dict | None = field(default=None)


def build_pipeline(estimator: str = DEFAULT_ESTIMATOR, seed: int = 42) -> Pipeline:
    """One Pipeline per model: column encoding, then the estimator.

    ``random_forest`` is the tutorial's model (100 trees, default settings) with isotonic
    calibration inside the pipeline (a forest's vote shares are not probabilities);
    gradient boosting and logistic regression minimise log-loss, so their outputs are
    calibrated probabilities already (their measured calibration error says so).

    Gradient boosting's learning rate is 0.2, not 0.1: every tree is walked for every
    customer every night, and 0.2 stops early at about 35 trees instead of 45 to 80 with
    the same cross-validated quality (bench/model_quality.py; README "Model quality").
    """
    cats, flags, nums, call = list(CATEGORICAL), list(BOOLEAN), list(NUMERIC), list(CALL_NUMERIC)
    if estimator == "hist_gradient_boosting":
        encode = CategoryCodes(CATEGORICAL)
        model = HistGradientBoostingClassifier(
            learning_rate=0.2, max_iter=300, max_leaf_nodes=31, min_samples_leaf=40, l2_regularization=1.0,
            categorical_features=list(range(len(cats))), random_state=seed)
    elif estimator == "random_forest":
        encode = ColumnTransformer(
            [("categories", OneHotEncoder(handle_unknown="ignore"), cats)],
            remainder="passthrough", verbose_feature_names_out=False)
        model = CalibratedClassifierCV(RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=-1),
                                       method="isotonic", cv=3)
    elif estimator == "logistic_regression":
        # A call year unknown for some calls is imputed (ClipCallYear already made an all-unknown column 0).
        year = Pipeline([("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                         ("scale", StandardScaler())])
        encode = ColumnTransformer(
            [("categories", OneHotEncoder(handle_unknown="ignore"), cats),
             ("numbers", StandardScaler(), nums + flags), ("call", year, call)], verbose_feature_names_out=False)
        model = LogisticRegression(max_iter=2000, C=1.0)
    else:
        raise ValueError(f"unknown estimator {estimator!r}; choose one of {', '.join(ESTIMATORS)}")
    return Pipeline([("year", ClipCallYear()), ("encode", encode), ("model", model)])


def skip_repeated_encoding(pipeline: Pipeline, X: pd.DataFrame) -> bool:
    """Let gradient boosting take CategoryCodes' codes as they are; returns whether it does.

    scikit-learn's gradient boosting re-encodes its categorical columns with an
    OrdinalEncoder of its own in every predict (0.25 s per 1M customers). Fitted on
    CategoryCodes' output, that encoder maps each code to itself and NaN to NaN, so it is
    dropped (a private attribute: ``_preprocessor``), but only when the training rows,
    plus rows with a missing and an unseen category, score exactly the same without it.
    Any other case (another estimator, another scikit-learn) keeps the encoder.
    """
    model = pipeline.steps[-1][1]
    if not (isinstance(model, HistGradientBoostingClassifier) and isinstance(pipeline.named_steps.get("encode"),
                                                                             CategoryCodes)):
        return False
    encoder = getattr(model, "_preprocessor", None)
    if encoder is None:
        return False
    odd = X.head(20).copy()
    for col in CATEGORICAL:
        values = odd[col].astype(object).to_numpy(copy=True)
        values[::2], values[1::2] = None, "__never_seen__"
        odd[col] = values
    check = pd.concat([X, odd], ignore_index=True)
    before = pipeline.predict_proba(check)
    model._preprocessor = None
    try:
        same = np.array_equal(before, pipeline.predict_proba(check))
    except Exception:  # noqa: BLE001 - whatever the reason, the encoder stays
        same = False
    if not same:
        model._preprocessor = encoder
    return same


def select_estimator(X: pd.DataFrame, y: np.ndarray, seed: int) -> tuple[str, dict]:
    """Cross-validate every candidate on the training calls; the best mean ROC AUC wins.

    Returns the winner and, per candidate, its mean ROC AUC, top-decile lift, Brier score
    and calibration error over SELECTION_FOLDS stratified folds (kept in the metrics).
    """
    from sklearn.model_selection import StratifiedKFold

    folds = list(StratifiedKFold(SELECTION_FOLDS, shuffle=True, random_state=seed).split(X, y))
    table = {}
    for name in CANDIDATES:
        started = time.perf_counter()
        scores = [classification_metrics(y[test], build_pipeline(name, seed).fit(X.iloc[train], y[train])
                                         .predict_proba(X.iloc[test])[:, 1]) for train, test in folds]
        table[name] = {k: round(float(np.mean([m[k] for m in scores])), 5)
                       for k in ("roc_auc", "lift_top_decile", "brier_score", "expected_calibration_error")}
        table[name]["seconds"] = round(time.perf_counter() - started, 2)
        log.info("candidate %s: cross-validated ROC AUC %.4f", name, table[name]["roc_auc"])
    best = max(CANDIDATES, key=lambda n: table[n]["roc_auc"])
    return best, table


def load_training_rows(engine: Engine, window_start: dt.date | None = None,
                       window_end: dt.date | None = None) -> pd.DataFrame:
    """Past calls with their outcome, optionally only those dated within [start, end].

    With a window, calls whose year is unknown (a shuffled sample) cannot be placed in it
    and are left out; the caller reports how many.
    """
    columns = ", ".join(["contact_id", "contact_date", "contact_month", "contact_day", *CUSTOMER_ATTRIBUTES,
                         "is_subscribed"])
    where, params = _window_clause(window_start, window_end)
    with engine.connect() as conn:
        return pd.read_sql_query(text(f"select {columns} from campaign_contacts{where} order by contact_id"), conn,
                                 params=params)


def _window_clause(start: dt.date | None, end: dt.date | None) -> tuple[str, dict]:
    """The training window as a where clause with bound dates ('' for all calls)."""
    clauses, params = [], {}
    if start:
        clauses.append("contact_date >= :start")
        params["start"] = start
    if end:
        clauses.append("contact_date <= :end")
        params["end"] = end
    return (" where " + " and ".join(clauses) if clauses else ""), params


def parse_window_date(name: str, value) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{name} must be a date as YYYY-MM-DD, got {value!r}") from None


def check_training_window(engine: Engine, window_start=None, window_end=None) -> dict:
    """Check the window and the rows in it before any training starts.

    Returns the window as ISO dates with the row and positive counts.
    """
    check_training_schema(engine)
    start = parse_window_date("window_start", window_start)
    end = parse_window_date("window_end", window_end)
    if start and end and start > end:
        raise ValueError(f"training window starts {start} after it ends {end}")
    where, params = _window_clause(start, end)
    with engine.connect() as conn:
        row = conn.execute(text("select count(*) as n, sum(case when is_subscribed then 1 else 0 end) as pos "
                                f"from campaign_contacts{where}"), params).one()
    rows, positives = int(row.n), int(row.pos or 0)
    try:
        check_training_counts(rows, positives)
    except TrainingDataError as exc:
        window = f" between {start or 'the first call'} and {end or 'the last call'}" if where else ""
        raise TrainingDataError(f"{exc}{window}") from None
    return {"window_start": start.isoformat() if start else None, "window_end": end.isoformat() if end else None,
            "rows": rows, "positives": positives}


def _call_years(dates: pd.Series) -> pd.Series:
    """Each call's year from its date (missing where the year is unknown)."""
    return pd.to_datetime(dates, errors="coerce").dt.year.astype("float64")


def check_training_schema(engine: Engine) -> None:
    """Name the missing columns of a bank's campaign_contacts instead of a driver error."""
    from sqlalchemy import inspect

    present = {c["name"] for c in inspect(engine).get_columns("campaign_contacts")}
    needed = {"contact_id", "contact_date", "contact_month", "contact_day", "is_subscribed", *CUSTOMER_ATTRIBUTES}
    missing = sorted(needed - present)
    if missing:
        raise TrainingDataError(
            f"campaign_contacts lacks column(s) {', '.join(missing)}; see sql/campaign_contacts.sql")


def fingerprint(frame: pd.DataFrame) -> str:
    """sha256 of the training rows (ids, features, labels) in id order."""
    digest = hashlib.sha256()
    ordered = frame.sort_values("contact_id")
    hashed = pd.util.hash_pandas_object(
        ordered[["contact_id", "contact_date", "contact_month", "contact_day", *CUSTOMER_ATTRIBUTES,
                 "is_subscribed"]].astype(str),
        index=False)
    digest.update(hashed.to_numpy().tobytes())
    return digest.hexdigest()


def train_model(engine: Engine, model_dir, estimator: str = DEFAULT_ESTIMATOR,
                window_start: dt.date | None = None, window_end: dt.date | None = None,
                seed: int = 42, promote: str = "if_better", actor: str = "cli") -> TrainResult:
    """Train, evaluate on a stratified holdout, register, and promote when better.

    Retraining the same rows with the same estimator, seed and modelling code returns the
    existing version instead of registering a duplicate.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; choose one of {', '.join(ESTIMATORS)}")
    if promote not in PROMOTE_MODES:
        raise ValueError(f"promote must be one of {', '.join(PROMOTE_MODES)}, got {promote!r}")
    if window_start and window_end and window_start > window_end:
        raise ValueError(f"training window starts {window_start} after it ends {window_end}")
    started = time.perf_counter()
    check_training_schema(engine)
    rows = load_training_rows(engine, window_start, window_end)
    labels = rows["is_subscribed"]
    check_training_rows(labels)
    y = labels.astype(bool).astype(int).to_numpy()
    X = feature_frame(rows, rows["contact_month"], rows["contact_day"], _call_years(rows["contact_date"]))
    params = {"estimator": estimator, "seed": seed, "holdout_fraction": HOLDOUT_FRACTION,
              "model_code_sha256": registry.model_code_sha256()}
    params_json = json.dumps(params, sort_keys=True)
    data_fp = fingerprint(rows)
    code = registry.code_version()

    with engine.connect() as conn:
        same = conn.execute(text(
            "select model_version, status from model_versions where training_fingerprint = :fp "
            "and params_json = :p order by model_version desc"), {"fp": data_fp, "p": params_json}).first()
    if same is not None:
        found = registry.get_version(engine, same.model_version)
        metrics = {"roc_auc": found.roc_auc, "pr_auc": found.pr_auc,
                   "lift_top_decile": found.lift_top_decile, "brier_score": found.brier_score}
        log.info("same rows, params and code as model v%s: nothing to retrain", same.model_version)
        return TrainResult(same.model_version, found.algorithm, same.status, metrics, True,
                           f"already trained as v{same.model_version} ({same.status})",
                           time.perf_counter() - started, len(rows))

    held = holdout_mask(rows["contact_id"])
    X_train, X_test, y_train, y_test = X[~held], X[held], y[~held], y[held]
    selection = None
    algorithm = estimator
    if estimator == "auto":
        algorithm, selection = select_estimator(X_train, y_train, seed)
    pipeline = build_pipeline(algorithm, seed)
    fit_started = time.perf_counter()
    pipeline.fit(X_train, y_train)
    fit_seconds = time.perf_counter() - fit_started
    skip_repeated_encoding(pipeline, X_train)
    # Kept inside the (hashed) artifact: what a typical training customer looks like, for
    # the reason codes of tonight's top customers.
    pipeline.reference_values_ = reference_values(X_train)
    # ... and for drift monitoring: the training rows' feature profile, and a sample of
    # them that each night scores with its own call date for the score's reference.
    pipeline.training_profile_ = training_profile(X_train)
    pipeline.reference_sample_ = X_train.sample(min(len(X_train), REFERENCE_SAMPLE_ROWS), random_state=seed)
    metrics = classification_metrics(y_test, pipeline.predict_proba(X_test)[:, 1])
    metrics["fit_seconds"] = round(fit_seconds, 3)
    if selection:
        metrics["selection_cv"] = selection

    challenger_scores = pipeline.predict_proba(X_test)[:, 1]
    current = registry.champion(engine)
    champion_metrics = champion_scores = None
    if current is not None:
        champion_model = registry.load_model(current)
        champion_scores = champion_model.predict_proba(model_columns(champion_model, X_test))[:, 1]
        champion_metrics = classification_metrics(y_test, champion_scores)
    decision, new_status, bootstrap = _decide(promote, metrics, champion_metrics, current, y_test,
                                              challenger_scores, champion_scores)
    if bootstrap is not None:
        metrics["gate_bootstrap"] = {k: round(v, 5) for k, v in bootstrap.items()}

    with engine.begin() as conn:
        version = registry.allocate_version(conn)
        metadata = {
            "model_version": version, "algorithm": algorithm, "params": params, "features": list(FEATURES),
            "training_fingerprint": data_fp, "training_rows": len(rows), "training_positives": int(y.sum()),
            "window_start": window_start, "window_end": window_end, "metrics": metrics,
            "champion_metrics_on_same_holdout": champion_metrics, "libraries": registry.library_versions(),
            "code_version": code,
        }
        path, sha = registry.save_artifact(pipeline, metadata, model_dir, version)
        save_evaluation(path, y_test, challenger_scores, champion_scores,
                        current.model_version if current else None, _importance(pipeline, X_test, y_test, seed))
        conn.execute(text(
            "insert into model_versions (model_version, algorithm, params_json, feature_columns_json, "
            "training_fingerprint, training_rows, training_positives, holdout_rows, window_start, window_end, "
            "roc_auc, pr_auc, lift_top_decile, brier_score, metrics_json, library_versions_json, code_version, "
            "artifact_path, artifact_sha256, status) values (:v, :alg, :params, :features, :fp, :rows, :pos, "
            ":holdout, :ws, :we, :auc, :prauc, :lift, :brier, :metrics, :libs, :code, :path, :sha, 'candidate')"),
            {"v": version, "alg": algorithm, "params": params_json, "features": json.dumps(list(FEATURES)),
             "fp": data_fp, "rows": len(rows), "pos": int(y.sum()), "holdout": len(y_test),
             "ws": window_start,
             "we": window_end,
             "auc": metrics["roc_auc"], "prauc": metrics["pr_auc"], "lift": metrics["lift_top_decile"],
             "brier": metrics["brier_score"], "metrics": json.dumps(metrics),
             "libs": json.dumps(registry.library_versions()), "code": code, "path": str(path), "sha": sha})
        registry.record_event(conn, version, "registered",
                              f"trained {algorithm}"
                              + (f" (chosen by {SELECTION_FOLDS}-fold CV among {', '.join(CANDIDATES)})"
                                 if selection else "")
                              + f" on {len(rows)} calls; holdout ROC AUC {metrics['roc_auc']:.4f}",
                              actor)
        if new_status == "champion":
            registry.promote_in(conn, version, decision, actor)
        elif new_status == "rejected":
            conn.execute(text("update model_versions set status = 'rejected' where model_version = :v"),
                         {"v": version})
            registry.record_event(conn, version, "rejected", decision, actor)
    try:
        report = write_report(engine, version)
        log.info("model v%s report: %s", version, report)
    except Exception:  # the model is registered; `bank-scoring report` can write the page again
        log.exception("model v%s: the report could not be written", version)
    return TrainResult(version, algorithm, new_status, metrics, False, decision,
                       time.perf_counter() - started, len(rows), champion_metrics)


def _importance(pipeline, X: pd.DataFrame, y: np.ndarray, seed: int) -> dict[str, tuple[float, float]]:
    """Permutation importance on the held-out calls: drop in ROC AUC per shuffled column."""
    from sklearn.inspection import permutation_importance

    result = permutation_importance(pipeline, X, y, scoring="roc_auc", n_repeats=3, random_state=seed)
    return {col: (float(m), float(s)) for col, m, s in
            zip(X.columns, result.importances_mean, result.importances_std, strict=True)}


def gate(y_holdout, challenger, champion) -> tuple[bool, str, dict]:
    """Promote only when the challenger is better beyond the noise, and not worse calibrated.

    Better: the lower bound of the 95% paired-bootstrap interval of (challenger - champion)
    ROC AUC is above zero, i.e. on resampled held-out calls the challenger ranks better
    in at least 97.5% of draws. A fixed margin would be too strict on a large holdout and
    too lax on a small one; the interval scales with the holdout. Not worse calibrated:
    the interval of the calibration-error difference must reach zero or below (it is not
    demonstrably worse), and the challenger's own ECE must stay within CALIBRATION_LIMIT.
    """
    from bank_scoring.evaluate import expected_calibration_error, paired_bootstrap

    boot = paired_bootstrap(y_holdout, challenger, champion, resamples=BOOTSTRAP_RESAMPLES)
    auc = (f"ROC AUC {boot['roc_auc_diff']:+.4f} (95% CI {boot['roc_auc_low']:+.4f} to "
           f"{boot['roc_auc_high']:+.4f})")
    ece_new = expected_calibration_error(y_holdout, challenger)
    ece = (f"calibration error {boot['expected_calibration_error_diff']:+.4f} (95% CI "
           f"{boot['expected_calibration_error_low']:+.4f} to {boot['expected_calibration_error_high']:+.4f})")
    if boot["roc_auc_low"] <= 0:
        return False, f"not better beyond the noise: {auc}", boot
    if boot["expected_calibration_error_low"] > 0 or ece_new > CALIBRATION_LIMIT:
        return False, f"better ranked ({auc}) but worse calibrated: {ece}, ECE {ece_new:.4f}", boot
    return True, f"better: {auc}; {ece}", boot


def _decide(promote: str, metrics: dict, champion_metrics: dict | None, current,
            y_holdout=None, challenger=None, champion_scores=None) -> tuple[str, str, dict | None]:
    if current is None:
        return "first model: no champion yet", "champion", None
    new, old = metrics["roc_auc"], champion_metrics["roc_auc"]
    compared = f"ROC AUC {new:.4f} vs champion v{current.model_version} {old:.4f} on the same held-out calls"
    better, why, boot = gate(y_holdout, challenger, champion_scores)
    if promote == "always":
        return f"promoted on request; {compared}; gate said: {why}", "champion", boot
    if promote == "never":
        return f"kept as candidate on request; {compared}; gate said: {why}", "candidate", boot
    if better:
        return f"promoted: {compared}; {why}", "champion", boot
    return f"rejected: {compared}; {why}", "rejected", boot
