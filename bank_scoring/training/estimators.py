"""The candidate estimators: one Pipeline per model, recalibrated on the latest calls;
choosing among them by same-day ranking on the most recent calls; and the check that
lets gradient boosting skip its own re-encoding."""

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
from bank_scoring.evaluate import classification_metrics, paired_day_bootstrap
from bank_scoring.features import (
    BOOLEAN,
    CALL_DATE_FEATURES,
    CALL_NUMERIC,
    CATEGORICAL,
    FEATURES,
    NUMERIC,
    CallClock,
    CategoryCodes,
)
from bank_scoring.training.calibration import RecentCalibrated, call_days, day_strings
from bank_scoring.training.ranking import RankingBlend, SameDayPairs

log = logging.getLogger(__name__)

# Undated calls (a shuffled file): candidates are compared by stratified cross-validation.
SELECTION_FOLDS = 3
# Dated calls: the latest share of the training calls judges the candidates, each fitted
# on the calls before them, by same-day ranking AUC (what orders tonight's list).
SELECTION_RECENT_SHARE = 0.2
SELECTION_MIN_DAYS = 5
# Gradient boosting's early stopping needs this many calls of each outcome (its validation
# split is stratified and holds a tenth of them; with fewer, on 200 calls, stopping early
# kept too few trees to order anyone).
MIN_PER_OUTCOME = 50
_SELECTION_METRICS = (
    "same_day_auc",
    "same_day_lift_top_decile",
    "roc_auc",
    "lift_top_decile",
    "brier_score",
    "expected_calibration_error",
)


def hgb_interaction_groups(*apart: tuple[str, ...]) -> list[list[int]]:
    """Gradient boosting's feature groups: the customer's columns, then each of ``apart``
    (default: the call date's columns, one group).

    A tree uses columns of one group only, so the date's effect adds to the customer's
    (on the log-odds) and cannot change how customers called on the same day are ordered.
    The column order is CategoryCodes' output: categorical columns first.
    """
    apart = apart or (tuple(CALL_DATE_FEATURES),)
    order = [*CATEGORICAL, *(c for c in FEATURES if c not in CATEGORICAL)]
    groups = [[i for i, c in enumerate(order) if c in group] for group in apart]
    taken = {i for group in groups for i in group}
    return [[i for i in range(len(order)) if i not in taken], *groups]


class EarlyStoppedBoosting(HistGradientBoostingClassifier):
    """Gradient boosting that stops early on any training set holding at least
    ``MIN_PER_OUTCOME`` calls of each outcome, not only above 10,000 calls (scikit-learn's
    "auto").

    Below 10,000 calls "auto" walked all 300 trees and overfitted: on 2,000 / 5,000 / 9,000
    of bank-full's calls, pooled ROC AUC on 15,000 others was 0.734 / 0.749 / 0.760 against
    0.767 / 0.785 / 0.793 stopped early (at about 25 trees, so the night walks a tenth of the
    trees; docs/model.md). With fewer calls of an outcome the stratified validation split
    cannot be drawn, and the fit walks every tree, as before. ``do_early_stopping_`` says
    which it was.
    """

    def fit(self, X, y, sample_weight=None):
        wanted = self.early_stopping
        counts = np.unique(np.asarray(y), return_counts=True)[1]
        if wanted is True and (len(counts) < 2 or counts.min() < MIN_PER_OUTCOME):
            self.early_stopping = False
        try:
            return super().fit(X, y, sample_weight=sample_weight)
        finally:
            self.early_stopping = wanted


def build_pipeline(estimator: str = DEFAULT_ESTIMATOR, seed: int = 42) -> Pipeline | RankingBlend:
    """One Pipeline per model: the call's clock, encode the columns, then the estimator.

    ``ranking_blend`` (the default) is gradient boosting's Pipeline blended with a model of
    the order within a call day (``training.ranking``); its rolling-origin figures against
    gradient boosting's, seed by seed, are in docs/model.md.

    ``random_forest`` is the tutorial's model (100 trees, default settings) with isotonic
    calibration inside the pipeline (a forest's vote shares are not probabilities);
    gradient boosting and logistic regression minimise log-loss, so their outputs are
    calibrated probabilities already (their measured calibration error says so).

    Gradient boosting keeps the call date's effect additive (interaction constraints,
    ``hgb_interaction_groups``): trees mixing date and customer columns learnt which
    customers converted in which months, which cannot help a list where everyone has
    tonight's date; constrained, the same-day ranking AUC of the rolling-origin backtest
    rose from 0.581 to 0.609 (bench/model_quality.py). Learning rate 0.2 with at least 100
    calls per leaf: as good there as 0.1, with fewer trees to walk for every customer every
    night (docs/model.md).
    """
    cats, flags, nums, call = list(CATEGORICAL), list(BOOLEAN), list(NUMERIC), list(CALL_NUMERIC)
    if estimator == "ranking_blend":
        return RankingBlend(build_pipeline("hist_gradient_boosting", seed), SameDayPairs(seed=seed))
    if estimator == "hist_gradient_boosting":
        encode = CategoryCodes(CATEGORICAL)
        model = EarlyStoppedBoosting(
            learning_rate=0.2,
            max_iter=300,
            early_stopping=True,
            max_leaf_nodes=31,
            min_samples_leaf=100,
            l2_regularization=1.0,
            categorical_features=list(range(len(cats))),
            interaction_cst=hgb_interaction_groups(),
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
        # A call year unknown for some calls is imputed (CallClock already made an all-unknown column 0).
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
    return Pipeline([("year", CallClock()), ("encode", encode), ("model", model)])


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
    pipeline = getattr(pipeline, "estimator_", pipeline)  # a RecentCalibrated model's own Pipeline
    pipeline = getattr(pipeline, "base_", pipeline)  # a RankingBlend's gradient boosting
    if not isinstance(pipeline, Pipeline):
        return False
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


def build_model(estimator: str = DEFAULT_ESTIMATOR, seed: int = 42) -> RecentCalibrated:
    """The model a version holds: ``build_pipeline``'s, recalibrated on the latest calls."""
    return RecentCalibrated(build_pipeline(estimator, seed))


def select_estimator(X: pd.DataFrame, y: np.ndarray, seed: int) -> tuple[str, dict]:
    """Compare every candidate on the training calls; returns the winner and the table.

    Dated calls: each candidate is fitted on all but the latest SELECTION_RECENT_SHARE of
    the calls and judged on those by same-day ranking AUC, the order the nightly list
    needs, as it would be used: after its training calls. The default stays unless
    another is better beyond the noise (``_beyond_the_noise``). Undated calls (or too few days
    to judge): mean pooled ROC AUC over SELECTION_FOLDS stratified folds. The table keeps,
    per candidate, the list's and the pooled figures and the seconds it took.
    """
    days = call_days(X)
    known = ~np.isnan(days)
    table: dict = {}
    if known.mean() > 0.5:
        cutoff = np.quantile(days[known], 1 - SELECTION_RECENT_SHARE)
        recent, earlier = known & (days > cutoff), known & (days <= cutoff)
        dates = day_strings(days[recent])
        both = pd.DataFrame({"d": dates, "y": y[recent]}).groupby("d")["y"].nunique().eq(2).sum()
        if both >= SELECTION_MIN_DAYS and len(np.unique(y[earlier])) == 2:
            table["judged_on"] = f"same-day AUC on the latest {int(recent.sum())} training calls ({both} days)"
            scores = {}
            for name in CANDIDATES:
                started = time.perf_counter()
                model = build_model(name, seed).fit(X[earlier], y[earlier])
                scores[name] = model.predict_proba(X[recent])[:, 1]
                metrics = classification_metrics(y[recent], scores[name], dates)
                table[name] = {k: _round(metrics[k]) for k in _SELECTION_METRICS}
                table[name]["seconds"] = round(time.perf_counter() - started, 2)
                log.info("candidate %s: same-day AUC %.4f on the latest calls", name, metrics["same_day_auc"])
            return _beyond_the_noise(y[recent], scores, dates, table), table
    table["judged_on"] = f"pooled ROC AUC, {SELECTION_FOLDS}-fold stratified cross-validation"
    folds = list(StratifiedKFold(SELECTION_FOLDS, shuffle=True, random_state=seed).split(X, y))
    for name in CANDIDATES:
        started = time.perf_counter()
        scores = [
            classification_metrics(
                y[test], build_model(name, seed).fit(X.iloc[train], y[train]).predict_proba(X.iloc[test])[:, 1]
            )
            for train, test in folds
        ]
        table[name] = {k: _round(np.mean([m[k] for m in scores])) for k in _SELECTION_METRICS if k in scores[0]}
        table[name]["seconds"] = round(time.perf_counter() - started, 2)
        log.info("candidate %s: cross-validated ROC AUC %.4f", name, table[name]["roc_auc"])
    best = max(CANDIDATES, key=lambda n: (table[n]["roc_auc"], n == DEFAULT_ESTIMATOR))
    return best, table


def _beyond_the_noise(y: np.ndarray, scores: dict[str, np.ndarray], dates: np.ndarray, table: dict) -> str:
    """The default estimator, unless another ranks same-day calls better beyond the noise
    (the lower bound of its day-resampled 95% interval against the default is above zero;
    the best such lower bound wins). A difference within the noise is no reason to trade
    the default's calibration and speed for it."""
    best, best_low = DEFAULT_ESTIMATOR, 0.0
    for name in CANDIDATES:
        if name == DEFAULT_ESTIMATOR:
            continue
        boot = paired_day_bootstrap(y, scores[name], scores[DEFAULT_ESTIMATOR], dates, resamples=500)
        table[name]["same_day_auc_vs_default_low"] = _round(boot["same_day_auc_low"])
        if boot["same_day_auc_low"] > best_low:
            best, best_low = name, boot["same_day_auc_low"]
    return best


def _round(value) -> float | None:
    """A metric for the JSON record: 5 decimals, None where it could not be measured."""
    value = float(value)
    return None if np.isnan(value) else round(value, 5)


def fit_estimator(
    estimator: str, X: pd.DataFrame, y: np.ndarray, seed: int, sample_weight: np.ndarray | None = None
) -> tuple[str, Pipeline, dict]:
    """Fit the named estimator, or the best on the most recent calls for "auto".

    Returns the algorithm fitted, the model (``build_model``), and what the fit adds to
    the metrics: its time, the latest calls' calibration, and the candidates' table when
    chosen. ``sample_weight`` (None: every row 1) weighs the final fit's rows; "auto"
    chooses the estimator unweighted.
    """
    notes: dict = {}
    algorithm = estimator
    if estimator == "auto":
        algorithm, notes["selection"] = select_estimator(X, y, seed)
    pipeline = build_model(algorithm, seed)
    started = time.perf_counter()
    if sample_weight is None:
        pipeline.fit(X, y)
    else:
        pipeline.fit(X, y, sample_weight=sample_weight)
        notes["weighted_rows"] = int(np.sum(np.asarray(sample_weight) != 1.0))
    notes["fit_seconds"] = round(time.perf_counter() - started, 3)
    slope, shift = pipeline.calibration_
    notes["calibration"] = {"slope": round(slope, 4), "shift": round(shift, 4), "calls": pipeline.calibration_calls_}
    if pipeline.calibration_error_ is not None:
        before, after = pipeline.calibration_error_
        notes["calibration"].update(error_before=round(before, 4), error_after=round(after, 4))
    skip_repeated_encoding(pipeline, X)
    return algorithm, pipeline, notes
