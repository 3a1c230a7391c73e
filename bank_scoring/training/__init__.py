"""Training: the training rows (data), the candidate estimators, the champion gate, and
``train_model``, which runs them and registers the result (retrain)."""

from bank_scoring.training.data import (
    HOLDOUT_FRACTION,
    check_training_schema,
    check_training_window,
    fingerprint,
    holdout_mask,
    load_training_rows,
    parse_window_date,
    training_frame,
)
from bank_scoring.training.estimators import (
    build_model,
    build_pipeline,
    fit_estimator,
    select_estimator,
    skip_repeated_encoding,
)
from bank_scoring.training.gate import Decision, decide, gate
from bank_scoring.training.retrain import TrainResult, build_bundle, train_model

__all__ = [
    "HOLDOUT_FRACTION",
    "Decision",
    "TrainResult",
    "build_bundle",
    "build_model",
    "build_pipeline",
    "check_training_schema",
    "check_training_window",
    "decide",
    "fingerprint",
    "fit_estimator",
    "gate",
    "holdout_mask",
    "load_training_rows",
    "parse_window_date",
    "select_estimator",
    "skip_repeated_encoding",
    "train_model",
    "training_frame",
]
