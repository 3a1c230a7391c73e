"""The candidate estimators: one Pipeline per model, choosing among them by
cross-validation, and the check that lets gradient boosting skip its own re-encoding."""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from bank_scoring.constants import CANDIDATES, DEFAULT_ESTIMATOR, ESTIMATORS
from bank_scoring.evaluate import classification_metrics
from bank_scoring.features import BOOLEAN, CALL_NUMERIC, CATEGORICAL, NUMERIC, CategoryCodes, ClipCallYear

log = logging.getLogger(__name__)

SELECTION_FOLDS = 3
_SELECTION_METRICS = ("roc_auc", "lift_top_decile", "brier_score", "expected_calibration_error")


def build_pipeline(estimator: str = DEFAULT_ESTIMATOR, seed: int = 42) -> Pipeline:
    """One Pipeline per model: clip the call year, encode the columns, then the estimator.

    ``random_forest`` is the tutorial's model (100 trees, default settings) with isotonic
    calibration inside the pipeline (a forest's vote shares are not probabilities);
    gradient boosting and logistic regression minimise log-loss, so their outputs are
    calibrated probabilities already (their measured calibration error says so).

    Gradient boosting's learning rate is 0.2: every tree is walked for every customer
    every night, and the higher rate stops early with fewer trees at the same
    cross-validated quality (bench/model_quality.py).
    """
    cats, flags, nums, call = list(CATEGORICAL), list(BOOLEAN), list(NUMERIC), list(CALL_NUMERIC)
    if estimator == "hist_gradient_boosting":
        encode = CategoryCodes(CATEGORICAL)
        model = HistGradientBoostingClassifier(
            learning_rate=0.2,
            max_iter=300,
            max_leaf_nodes=31,
            min_samples_leaf=40,
            l2_regularization=1.0,
            categorical_features=list(range(len(cats))),
            random_state=seed,
        )
    elif estimator == "random_forest":
        encode = ColumnTransformer(
            [("categories", OneHotEncoder(handle_unknown="ignore"), cats)],
            remainder="passthrough",
            verbose_feature_names_out=False,
        )
        model = CalibratedClassifierCV(
            RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=-1), method="isotonic", cv=3
        )
    elif estimator == "logistic_regression":
        # A call year unknown for some calls is imputed (ClipCallYear already made an all-unknown column 0).
        year = Pipeline(
            [("impute", SimpleImputer(strategy="median", keep_empty_features=True)), ("scale", StandardScaler())]
        )
        encode = ColumnTransformer(
            [
                ("categories", OneHotEncoder(handle_unknown="ignore"), cats),
                ("numbers", StandardScaler(), nums + flags),
                ("call", year, call),
            ],
            verbose_feature_names_out=False,
        )
        model = LogisticRegression(max_iter=2000, C=1.0)
    else:
        raise ValueError(f"unknown estimator {estimator!r}; choose one of {', '.join(ESTIMATORS)}")
    return Pipeline([("year", ClipCallYear()), ("encode", encode), ("model", model)])


def skip_repeated_encoding(pipeline: Pipeline, X: pd.DataFrame) -> bool:
    """Let gradient boosting take CategoryCodes' codes as they are; returns whether it does.

    scikit-learn's gradient boosting re-encodes its categorical columns with an
    OrdinalEncoder of its own in every predict. Fitted on CategoryCodes' output, that
    encoder maps each code to itself and NaN to NaN, so it is dropped (a private
    attribute: ``_preprocessor``), but only when the training rows, plus rows with a
    missing and an unseen category, score exactly the same without it. Any other case
    (another estimator, another scikit-learn) keeps the encoder. The gain is measured
    in docs/performance.md.
    """
    model = pipeline.steps[-1][1]
    if not (
        isinstance(model, HistGradientBoostingClassifier)
        and isinstance(pipeline.named_steps.get("encode"), CategoryCodes)
    ):
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
    folds = list(StratifiedKFold(SELECTION_FOLDS, shuffle=True, random_state=seed).split(X, y))
    table = {}
    for name in CANDIDATES:
        started = time.perf_counter()
        scores = [
            classification_metrics(
                y[test], build_pipeline(name, seed).fit(X.iloc[train], y[train]).predict_proba(X.iloc[test])[:, 1]
            )
            for train, test in folds
        ]
        table[name] = {k: round(float(np.mean([m[k] for m in scores])), 5) for k in _SELECTION_METRICS}
        table[name]["seconds"] = round(time.perf_counter() - started, 2)
        log.info("candidate %s: cross-validated ROC AUC %.4f", name, table[name]["roc_auc"])
    best = max(CANDIDATES, key=lambda n: table[n]["roc_auc"])
    return best, table


def fit_estimator(estimator: str, X: pd.DataFrame, y: np.ndarray, seed: int) -> tuple[str, Pipeline, dict]:
    """Fit the named estimator, or the cross-validated best for "auto".

    Returns the algorithm fitted, the Pipeline, and what the fit adds to the metrics
    (its time, and the candidates' table when chosen by cross-validation).
    """
    notes: dict = {}
    algorithm = estimator
    if estimator == "auto":
        algorithm, notes["selection_cv"] = select_estimator(X, y, seed)
    pipeline = build_pipeline(algorithm, seed)
    started = time.perf_counter()
    pipeline.fit(X, y)
    notes["fit_seconds"] = round(time.perf_counter() - started, 3)
    skip_repeated_encoding(pipeline, X)
    return algorithm, pipeline, notes
