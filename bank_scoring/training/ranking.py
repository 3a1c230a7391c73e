"""A model of tonight's order: customers compared with customers called on the same day.

Every customer on a night's list has the same call date, so what matters is how the model
orders customers *within* a day. ``SameDayPairs`` learns exactly that: a logistic
regression without intercept on the differences of (subscriber, non-subscriber) pairs
called on the same day (a conditional logit). Day effects cancel in each difference, so
the model is fitted on who subscribed rather than on when; it has no level of its own.

``RankingBlend`` is the default model: gradient boosting (the call date's level, the
customers' effects with their interactions) and the same-day-pairs model fitted on the
latest months (the customers who subscribe *now*), averaged in log-odds. RecentCalibrated
then puts the blend at tonight's level. docs/model.md has the backtest behind its settings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, SplineTransformer, StandardScaler

from bank_scoring.features import BOOLEAN, CALL_DATE_FEATURES, CUSTOMER_CATEGORICAL
from bank_scoring.training.calibration import call_days, recent_mask, weight_params

_CLIP = 1e-6
# Fewer call days holding both outcomes than this, and there is no same-day order to learn.
MIN_PAIRED_DAYS = 2
# The customer's own columns, as the pairs model sees them: no call date (it cancels).
PAIR_NUMBERS = ("balance", "campaign", "pdays", "previous_contacts")
PAIR_FLAGS = BOOLEAN


class QuantileClip(TransformerMixin, BaseEstimator):
    """Clip each column to its training quantiles: a linear score must not follow one
    customer's extreme count or balance (275 previous contacts, a balance of 100,000) far
    past every customer it learnt from."""

    def __init__(self, low: float = 0.01, high: float = 0.99):
        self.low = low
        self.high = high

    def fit(self, X, y=None):
        values = np.asarray(X, dtype=float)
        self.bounds_ = np.nanquantile(values, [self.low, self.high], axis=0)
        self.n_features_in_ = values.shape[1]
        if hasattr(X, "columns"):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def transform(self, X):
        return np.clip(np.asarray(X, dtype=float), self.bounds_[0], self.bounds_[1])

    def get_feature_names_out(self, input_features=None):
        return np.asarray(input_features if input_features is not None else self.feature_names_in_, dtype=object)


def _pair_encoding() -> ColumnTransformer:
    """Customer categories one-hot, flags scaled, counts and balance clipped to the training
    calls' 1st-99th percentiles and scaled, age as a spline (its effect is not monotone:
    students and the retired subscribe most; beyond the knots it stays level)."""
    numbers = Pipeline([("clip", QuantileClip()), ("scale", StandardScaler())])
    return ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore", sparse_output=False), list(CUSTOMER_CATEGORICAL)),
            ("flags", StandardScaler(), list(PAIR_FLAGS)),
            ("age", SplineTransformer(n_knots=5), ["age"]),
            ("numbers", numbers, list(PAIR_NUMBERS)),
        ]
    )


class SameDayPairs(ClassifierMixin, BaseEstimator):
    """Logistic regression on same-day (subscriber minus non-subscriber) differences.

    For every call day with both outcomes, ``pairs_per_day`` pairs are drawn (with
    replacement; rows drawn in proportion to their sample weight, so exploration rows keep
    their inverse-probability weight). ``draws`` independent draws are fitted and their
    coefficients averaged: one linear model to score, with less of one draw's noise.
    ``predict_proba`` returns sigmoid(score): an order, not a probability (no intercept).
    Rows without a call date cannot be paired; with fewer than two days holding both
    outcomes the model cannot be fitted and says so.
    """

    def __init__(self, pairs_per_day: int = 400, draws: int = 5, C: float = 1.0, seed: int = 0):
        self.pairs_per_day = pairs_per_day
        self.draws = draws
        self.C = C
        self.seed = seed

    def fit(self, X: pd.DataFrame, y, sample_weight=None):
        y = np.asarray(y, dtype=int)
        weights = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        X = missing_as_nan(X)
        self.encode_ = _pair_encoding().fit(X)
        Z, days = self.encode_.transform(X), call_days(X)
        groups = []
        for pos, neg in same_day_groups(days, y):
            if weights[pos].sum() > 0 and weights[neg].sum() > 0:  # a side weighed 0 has nobody to draw
                groups.append((pos, neg, min(self.pairs_per_day, len(pos) * len(neg))))
        if len(groups) < MIN_PAIRED_DAYS:
            raise ValueError(
                f"the same-day ranking model needs at least two call days with both outcomes; found {len(groups)}"
            )
        rng = np.random.default_rng(self.seed)
        coefs = []
        for _ in range(self.draws):
            diffs = [Z[_draw(rng, pos, weights, k)] - Z[_draw(rng, neg, weights, k)] for pos, neg, k in groups]
            D = np.vstack(diffs)
            # The conditional logit's loss is sum log sigmoid(D w). Every other difference turned
            # round and labelled 0 gives the same loss term (log(1 - sigmoid(-d w)) = log
            # sigmoid(d w)) and the two classes LogisticRegression needs; weight 2 keeps the
            # penalty's balance of the problem stated both ways round, [D, -D] labelled [1, 0].
            sign = np.where(np.arange(len(D)) % 2 == 0, 1.0, -1.0)
            model = LogisticRegression(C=self.C, fit_intercept=False, max_iter=3000)
            model.fit(D * sign[:, None], (sign > 0).astype(int), sample_weight=np.full(len(D), 2.0))
            coefs.append(model.coef_[0])
        self.coef_ = np.mean(coefs, axis=0)
        self.classes_ = np.array([0, 1])
        return self

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """The score: ``encode_.transform(missing_as_nan(X)) @ coef_``, computed without building the encoded
        matrix (a million customers a night): each category's coefficient looked up, the
        scaled columns folded into one weight each, the age spline's few columns."""
        encode, coef = self.encode_, self.coef_
        part = {name: coef[where] for name, where in encode.output_indices_.items()}
        onehot = encode.named_transformers_["categories"]
        out = np.zeros(len(X))
        start = 0
        for col, cats in zip(onehot.feature_names_in_, onehot.categories_, strict=True):
            out += _lookup(X[col], cats, part["categories"][start : start + len(cats)])
            start += len(cats)
        flags = encode.named_transformers_["flags"]
        w = part["flags"] / flags.scale_
        out = _weighted_columns(out, X[list(PAIR_FLAGS)].to_numpy(dtype=float), w) - flags.mean_ @ w
        clip, scale = encode.named_transformers_["numbers"].named_steps.values()
        w = part["numbers"] / scale.scale_
        out = _weighted_columns(out, np.asarray(clip.transform(X[list(PAIR_NUMBERS)])), w) - scale.mean_ @ w
        return _weighted_columns(out, np.asarray(encode.named_transformers_["age"].transform(X[["age"]])), part["age"])

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = expit(self.decision_function(X))
        return np.column_stack([1 - p, p])


def _weighted_columns(out: np.ndarray, columns: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``out + columns @ weights``, one column at a time: a matrix product's last bits depend
    on how many rows it is given (its kernels treat a block's tail apart), and a customer's
    score must not depend on the chunk or partition it was scored in."""
    for j, w in enumerate(weights):
        out = out + columns[:, j] * w
    return out


def same_day_groups(days: np.ndarray, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per call day holding both outcomes: its subscribers' and non-subscribers' row numbers."""
    known = ~np.isnan(days)
    order = np.flatnonzero(known)[np.argsort(days[known], kind="stable")]
    groups = []
    for idx in np.split(order, np.flatnonzero(np.diff(days[order])) + 1):
        pos, neg = idx[y[idx] == 1], idx[y[idx] == 0]
        if len(pos) and len(neg):
            groups.append((pos, neg))
    return groups


def missing_as_nan(X: pd.DataFrame) -> pd.DataFrame:
    """The customer categories with every missing value as NaN: the encoder keeps None and NaN
    apart, ``decision_function`` treats them as the one missing category they are."""
    cats = list(CUSTOMER_CATEGORICAL)
    values = X[cats].astype(object)
    return X.assign(**values.where(values.notna(), np.nan))


def _lookup(values: pd.Series, categories: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each value's one-hot coefficient: its category's weight, 0 for a category not fitted."""
    table = np.append(weights, 0.0)  # position -1 (not found) reads the 0
    index = pd.Index(categories)
    seen_missing = np.flatnonzero(pd.isna(index))  # NaN (missing_as_nan) when the training rows had one
    missing = table[seen_missing[0]] if len(seen_missing) else 0.0
    if isinstance(values.dtype, pd.CategoricalDtype):  # the nightly reader's: each category looked up once
        return np.append(table[index.get_indexer(values.cat.categories)], missing)[values.cat.codes.to_numpy()]
    return np.where(values.isna().to_numpy(), missing, table[index.get_indexer(values)])


def _one_date(dates: pd.DataFrame) -> bool:
    """Whether every row holds the first row's values (missing matching missing)."""
    if dates.empty:
        return True
    for col in dates.columns:
        values, first = dates[col], dates[col].iloc[0]
        same = values.isna() if pd.isna(first) else values == first
        if not same.all():
            return False
    return True


def _draw(rng: np.random.Generator, rows: np.ndarray, weights: np.ndarray, k: int) -> np.ndarray:
    w = weights[rows]
    return rng.choice(rows, k, p=None if np.all(w == w[0]) else w / w.sum())  # equal weights: uniform, faster


class RankingBlend(ClassifierMixin, BaseEstimator):
    """``base`` fitted on every call, ``ranker`` on the calls of the last ``window_days``
    (at least the latest ``min_calls``): customers ordered by their log-odds averaged as
    1 : ``ranker_weight``, the call date's level left whole.

    The window: whom the centre reaches *now* changes with the campaign, and the ranker has
    no level to go stale, only an order; on bank-full its last six months rank the next
    month's days better than all the past does (docs/model.md).

    The base's log-odds are mu + a(customer) + b(date) when its trees never mix date and
    customer columns (gradient boosting's interaction constraints; checked at fit, and
    ``date_additive_`` says so). The blend is then mu + b(date) + (a + w * r) / (1 + w),
    r the ranker's centred score: within a day, the order of a + w * r; across days, the
    base's whole date effect, which averaging would have shrunk to 1 / (1 + w) of itself
    (the holdout's months, the report's per-month levels). b(date) is read off the base at
    one reference customer, once per distinct date (one at night). Otherwise the plain average
    (base + w * r) / (1 + w). Calls of unknown date, or too few days holding both
    outcomes, leave the base model alone (``ranker_`` None).
    """

    def __init__(self, base, ranker, window_days: int = 183, min_calls: int = 2000, ranker_weight: float = 2.0):
        self.base = base
        self.ranker = ranker
        self.window_days = window_days
        self.min_calls = min_calls
        self.ranker_weight = ranker_weight

    def fit(self, X: pd.DataFrame, y, sample_weight=None):
        y = np.asarray(y, dtype=int)
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        self.base_ = clone(self.base).fit(X, y, **weight_params(self.base, weights))
        self.classes_ = self.base_.classes_
        self.ranker_, self.ranker_calls_ = None, 0
        days = call_days(X)
        if np.isnan(days).all():
            return self  # undated calls (a shuffled file): no day to rank within; the base alone
        recent = recent_mask(days, self.window_days, self.min_calls)
        if len(same_day_groups(days[recent], y[recent])) < MIN_PAIRED_DAYS:
            recent = np.ones(len(y), bool)
        if len(same_day_groups(days[recent], y[recent])) < MIN_PAIRED_DAYS:
            return self
        self.ranker_ = clone(self.ranker).fit(
            X[recent], y[recent], **weight_params(self.ranker, None if weights is None else weights[recent])
        )
        self.ranker_calls_ = int(recent.sum())
        self.rank_mean_ = float(np.mean(self.ranker_.decision_function(X)))
        self.reference_ = X.iloc[[0]].reset_index(drop=True)  # any customer: b(date) is the same for all
        self.date_additive_ = self._additive(X)
        if self.date_additive_:
            self.base_mean_ = float(np.mean(self._base_log_odds(X)))
            self.date_mean_ = float(np.mean(self._at_reference(X)))
        return self

    def _base_log_odds(self, X: pd.DataFrame) -> np.ndarray:
        return logit(np.clip(self.base_.predict_proba(X)[:, 1], _CLIP, 1 - _CLIP))

    def _at_reference(self, X: pd.DataFrame) -> np.ndarray:
        """The base's log-odds of the reference customer called on each row's date."""
        dates = X[list(CALL_DATE_FEATURES)].reset_index(drop=True)
        if _one_date(dates):  # tonight's list: everybody is called on the score date
            group = np.zeros(len(dates), dtype=int)
        else:
            group = dates.groupby(list(CALL_DATE_FEATURES), dropna=False, sort=False).ngroup().to_numpy()
        first = np.unique(group, return_index=True)[1]
        distinct = dates.iloc[first].reset_index(drop=True)
        frame = pd.concat([self.reference_] * len(distinct), ignore_index=True)
        frame[list(CALL_DATE_FEATURES)] = distinct
        return self._base_log_odds(frame[X.columns])[group]

    def _additive(self, X: pd.DataFrame) -> bool:
        """Whether the base's date effect is the same for every customer, on a sample of the
        training rows and their dates (exactly so for trees that never mix the two)."""
        sample = X.iloc[np.linspace(0, len(X) - 1, min(len(X), 40)).astype(int)].reset_index(drop=True)
        effects = []
        for i in (0, len(sample) // 2, len(sample) - 1):
            customer = pd.concat([sample.iloc[[i]]] * len(sample), ignore_index=True)
            customer[list(CALL_DATE_FEATURES)] = sample[list(CALL_DATE_FEATURES)]
            z = self._base_log_odds(customer)
            effects.append(z - z[0])
        return bool(np.allclose(effects[0], effects[1], atol=1e-9) and np.allclose(effects[0], effects[2], atol=1e-9))

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """The blend's log-odds (before any recalibration)."""
        base = self._base_log_odds(X)
        if self.ranker_ is None:
            return base
        w = self.ranker_weight
        rank = self.ranker_.decision_function(X) - self.rank_mean_
        if not self.date_additive_:
            return (base + w * rank) / (1 + w)
        level = self.base_mean_ + self._at_reference(X) - self.date_mean_  # mu + b(date)
        return (base + w * rank + w * level) / (1 + w)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        if self.ranker_ is None:
            return self.base_.predict_proba(X)
        p = expit(self.decision_function(X))
        return np.column_stack([1 - p, p])
