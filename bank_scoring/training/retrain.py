"""Train a model on past calls, measure it on the held-out calls, register it, and promote
it when the gate says it beats the champion on those same calls."""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from bank_scoring import registry
from bank_scoring.constants import CANDIDATES, DEFAULT_ESTIMATOR, ESTIMATORS, PROMOTE_MODES
from bank_scoring.evaluate import classification_metrics
from bank_scoring.explain import reference_values
from bank_scoring.features import FEATURES
from bank_scoring.model_bundle import ModelBundle
from bank_scoring.monitor import training_profile
from bank_scoring.report import save_evaluation
from bank_scoring.training.calibration import call_days, day_strings, in_time_scores
from bank_scoring.training.data import (
    HOLDOUT_FRACTION,
    check_training_schema,
    fingerprint,
    holdout_mask,
    load_training_rows,
    parse_window,
    training_frame,
    training_weights,
)
from bank_scoring.training.estimators import fit_estimator
from bank_scoring.training.gate import decide, recent_holdout

log = logging.getLogger(__name__)

# Training rows kept in the bundle; each night scores them with its own call date as the
# reference of the night's score distribution.
REFERENCE_SAMPLE_ROWS = 5_000


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


def build_bundle(pipeline, X_train: pd.DataFrame, seed: int = 42) -> ModelBundle:
    """A fitted Pipeline with what the night needs from its training rows."""
    return ModelBundle(
        pipeline=pipeline,
        features=tuple(X_train.columns),
        reference_values=reference_values(X_train),
        training_profile=training_profile(X_train),
        reference_sample=X_train.sample(min(len(X_train), REFERENCE_SAMPLE_ROWS), random_state=seed),
    )


def train_model(
    engine: Engine,
    model_dir,
    estimator: str = DEFAULT_ESTIMATOR,
    window_start: dt.date | str | None = None,
    window_end: dt.date | str | None = None,
    seed: int = 42,
    promote: str = "if_better",
    actor: str = "cli",
) -> TrainResult:
    """Train, evaluate on the fixed holdout, register, and promote when better.

    Retraining the same rows with the same estimator, seed and modelling code returns the
    existing version (``reused``); no duplicate is registered. The HTML report is its own
    step (``report.write_report``); the evaluation it draws from is saved here.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; choose one of {', '.join(ESTIMATORS)}")
    if promote not in PROMOTE_MODES:
        raise ValueError(f"promote must be one of {', '.join(PROMOTE_MODES)}, got {promote!r}")
    window_start, window_end = parse_window(window_start, window_end)
    started = time.perf_counter()
    check_training_schema(engine)
    rows = load_training_rows(engine, window_start, window_end)
    X, y = training_frame(rows)
    params = {
        "estimator": estimator,
        "seed": seed,
        "holdout_fraction": HOLDOUT_FRACTION,
        "model_code_sha256": registry.model_code_sha256(),
    }
    data_fp = fingerprint(rows)

    same = registry.find_same_training(engine, data_fp, params)
    if same is not None:
        log.info("same rows, params and code as model v%s: nothing to retrain", same.model_version)
        return TrainResult(
            same.model_version,
            same.algorithm,
            same.status,
            same.metrics,
            True,
            f"already trained as v{same.model_version} ({same.status})",
            time.perf_counter() - started,
            len(rows),
        )

    held = holdout_mask(rows["contact_id"])
    X_train, X_test, y_train, y_test = X[~held], X[held], y[~held], y[held]
    days_test = call_days(X_test)
    dates_test = day_strings(days_test)
    recent = recent_holdout(days_test)
    weights = training_weights(rows)
    algorithm, pipeline, notes = fit_estimator(
        estimator, X_train, y_train, seed, sample_weight=None if weights is None else weights[~held]
    )
    bundle = build_bundle(pipeline, X_train, seed)
    scores = holdout_scores(bundle, X_test)
    metrics = {**holdout_metrics(y_test, scores, dates_test, recent), **notes}

    current = registry.champion(engine)
    champion_scores = champion_metrics = None
    if current is not None:
        champion_scores = holdout_scores(registry.load_model(current), X_test)
        champion_metrics = holdout_metrics(y_test, champion_scores, dates_test, recent)
    decision = decide(
        promote,
        current.model_version if current else None,
        y_test,
        scores,
        champion_scores,
        metrics["roc_auc"],
        champion_metrics["roc_auc"] if champion_metrics else None,
        recent_dates=dates_test[recent] if recent is not None else None,
        recent=recent,
    )
    if decision.bootstrap is not None:
        metrics["gate_bootstrap"] = {k: round(v, 5) for k, v in decision.bootstrap.items()}
    importance = _importance(pipeline, X_test, y_test, seed)

    chosen = (
        f" (chosen among {', '.join(CANDIDATES)} by {notes['selection']['judged_on']})" if "selection" in notes else ""
    )
    new = registry.NewVersion(
        algorithm=algorithm,
        params=params,
        features=tuple(FEATURES),
        training_fingerprint=data_fp,
        training_rows=len(rows),
        training_positives=int(y.sum()),
        holdout_rows=len(y_test),
        window_start=window_start,
        window_end=window_end,
        metrics=metrics,
        champion_metrics=champion_metrics,
    )
    with engine.begin() as conn:
        version = registry.register_version(
            conn,
            Path(model_dir),
            bundle,
            new,
            actor=actor,
            reason=f"trained {algorithm}{chosen} on {len(rows)} calls; holdout ROC AUC {metrics['roc_auc']:.4f}",
        )
        save_evaluation(
            Path(version.artifact_path),
            y_test,
            scores,
            champion_scores,
            current.model_version if current else None,
            importance,
            days_test,
        )
        if decision.status == "champion":
            registry.promote_in(conn, version.model_version, decision.reason, actor)
        elif decision.status == "rejected":
            registry.reject(conn, version.model_version, decision.reason, actor)
    log.info("model v%s (%s): %s", version.model_version, algorithm, decision.reason)
    return TrainResult(
        version.model_version,
        algorithm,
        decision.status,
        metrics,
        False,
        decision.reason,
        time.perf_counter() - started,
        len(rows),
        champion_metrics,
    )


def holdout_scores(bundle: ModelBundle, X: pd.DataFrame) -> np.ndarray:
    """A version's probabilities for held-out calls at their own dates (``in_time_scores``)."""
    return in_time_scores(bundle.pipeline, X[list(bundle.features)])


def holdout_metrics(y: np.ndarray, scores: np.ndarray, dates: np.ndarray, recent: np.ndarray | None) -> dict:
    """The held-out calls' figures, pooled and the list's; with ``recent`` (a mask), the same
    over the most recent held-out calls, prefixed ``recent_``, where the gate judges."""
    metrics = classification_metrics(y, scores, dates)
    if recent is not None and len(np.unique(y[recent])) == 2:
        part = classification_metrics(y[recent], scores[recent], dates[recent])
        metrics.update({f"recent_{k}": v for k, v in part.items()})
        metrics["recent_from"] = str(min(d for d in dates[recent] if d))
    return metrics


def _importance(pipeline, X: pd.DataFrame, y: np.ndarray, seed: int) -> dict[str, tuple[float, float]]:
    """Permutation importance on the held-out calls: drop in ROC AUC per shuffled column."""
    from sklearn.inspection import permutation_importance

    result = permutation_importance(pipeline, X, y, scoring="roc_auc", n_repeats=3, random_state=seed)
    return {
        col: (float(m), float(s))
        for col, m, s in zip(X.columns, result.importances_mean, result.importances_std, strict=True)
    }
