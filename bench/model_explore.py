"""What was tried for the nightly list, on the same rolling-origin backtest as
bench/model_quality.py: the variants behind the default model's settings, kept or not.

    python bench/model_explore.py [--csv PATH] [--only SUBSTRING]

Each variant is fitted, for every month from 2009-01 to 2010-11, on every call before the
month, and scores the month; one row per variant (pooled AUC, same-day AUC, same-month AUC,
within-day lift, Brier, ECE, fit seconds). docs/model.md says which were kept and why.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, SplineTransformer, StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bank_scoring.features import BOOLEAN, CATEGORICAL, CategoryCodes, ClipCallYear, feature_frame  # noqa: E402
from bank_scoring.ingest import read_uci_csv  # noqa: E402
from bank_scoring.training import build_pipeline  # noqa: E402
from bank_scoring.training.backtest import backtest_metrics, rolling_origin  # noqa: E402
from bank_scoring.training.calibration import RecentCalibrated, call_days  # noqa: E402
from bank_scoring.training.estimators import _hgb_interaction_groups  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_quality import previous_default, print_table  # noqa: E402


def hgb(learning_rate=0.2, min_leaf=100, leaves=31, l2=1.0, constrained=True) -> Pipeline:
    model = HistGradientBoostingClassifier(
        learning_rate=learning_rate,
        max_iter=300,
        max_leaf_nodes=leaves,
        min_samples_leaf=min_leaf,
        l2_regularization=l2,
        categorical_features=list(range(len(CATEGORICAL))),
        interaction_cst=_hgb_interaction_groups() if constrained else None,
        random_state=0,
    )
    return Pipeline([("year", ClipCallYear()), ("encode", CategoryCodes(CATEGORICAL)), ("model", model)])


class Weighted(ClassifierMixin, BaseEstimator):
    """Sample weights from the call dates: recency (half-life in days) or one weight per day."""

    def __init__(self, estimator, half_life=None, per_day=False):
        self.estimator, self.half_life, self.per_day = estimator, half_life, per_day

    def fit(self, X, y):
        days = call_days(X)
        if self.per_day:  # every day weighs the same, whatever its number of calls
            counts = pd.Series(days).map(pd.Series(days).value_counts()).to_numpy(float)
            weights = 1 / counts
        else:
            weights = 0.5 ** ((np.nanmax(days) - days) / self.half_life)
        self.estimator_ = clone(self.estimator).fit(X, y, model__sample_weight=weights / weights.mean())
        self.classes_ = self.estimator_.classes_
        return self

    def predict_proba(self, X):
        return self.estimator_.predict_proba(X)


class SameDayPairs(ClassifierMixin, BaseEstimator):
    """A ranking objective grouped by call date: logistic regression on the differences of
    (subscriber, non-subscriber) pairs called on the same day (a conditional logit)."""

    def __init__(self, pairs_per_day=400, seed=0):
        self.pairs_per_day, self.seed = pairs_per_day, seed

    def _encode(self):
        cats = [c for c in CATEGORICAL if c != "contact_month"]
        return ColumnTransformer(
            [
                ("cats", OneHotEncoder(handle_unknown="ignore", sparse_output=False), cats),
                ("flags", StandardScaler(), list(BOOLEAN)),
                ("age", SplineTransformer(n_knots=5), ["age"]),
                ("numbers", StandardScaler(), ["balance", "campaign", "pdays", "previous_contacts"]),
            ]
        )

    def fit(self, X, y):
        rng = np.random.default_rng(self.seed)
        self.encode_ = self._encode().fit(X)
        Z, days, diffs = self.encode_.transform(X), call_days(X), []
        for day in np.unique(days[~np.isnan(days)]):
            idx = np.flatnonzero(days == day)
            pos, neg = idx[y[idx] == 1], idx[y[idx] == 0]
            if len(pos) and len(neg):
                k = min(self.pairs_per_day, len(pos) * len(neg))
                diffs.append(Z[rng.choice(pos, k)] - Z[rng.choice(neg, k)])
        D = np.vstack(diffs)
        target = np.r_[np.ones(len(D)), np.zeros(len(D))]
        self.model_ = LogisticRegression(fit_intercept=False, max_iter=3000).fit(np.vstack([D, -D]), target)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):
        p = expit(self.encode_.transform(X) @ self.model_.coef_[0])
        return np.column_stack([1 - p, p])


class Blend(ClassifierMixin, BaseEstimator):
    """The mean log-odds of several models."""

    def __init__(self, estimators):
        self.estimators = estimators

    def fit(self, X, y):
        self.fitted_ = [clone(e).fit(X, y) for e in self.estimators]
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):
        z = np.mean([logit(np.clip(m.predict_proba(X)[:, 1], 1e-6, 1 - 1e-6)) for m in self.fitted_], axis=0)
        return np.column_stack([1 - expit(z), expit(z)])


VARIANTS = {
    "previous default (free interactions, lr 0.2, leaf 40)": lambda: previous_default(0),
    "free interactions + recalibration": lambda: RecentCalibrated(previous_default(0)),
    "date kept additive (interaction constraints)": lambda: hgb(),
    "additive + recalibration, 60 days (the default)": lambda: RecentCalibrated(hgb()),
    "additive + recalibration, 30 days": lambda: RecentCalibrated(hgb(), window_days=30),
    "additive + recalibration, 90 days": lambda: RecentCalibrated(hgb(), window_days=90),
    "additive + recalibration, shift only": lambda: RecentCalibrated(hgb(), slope=False),
    "additive + recalibration in-sample (no cross-fit)": lambda: RecentCalibrated(hgb(), cross_fit=False),
    "additive, lr 0.1": lambda: RecentCalibrated(hgb(learning_rate=0.1)),
    "additive, stronger regularisation (lr .05, 15 leaves, leaf 200, l2 5)": lambda: RecentCalibrated(
        hgb(0.05, 200, 15, 5.0)
    ),
    "additive, recency weights (half-life 180 days)": lambda: RecentCalibrated(Weighted(hgb(), half_life=180)),
    "additive, every call day weighted equally": lambda: RecentCalibrated(Weighted(hgb(), per_day=True)),
    "ranking objective by call date (same-day pairs)": lambda: RecentCalibrated(SameDayPairs()),
    "logistic regression + recalibration": lambda: RecentCalibrated(build_pipeline("logistic_regression", 0)),
    "blend: additive HGB + logistic regression": lambda: RecentCalibrated(
        Blend([hgb(), build_pipeline("logistic_regression", 0)])
    ),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_csv = os.environ.get("BANK_CSV") or str(Path(__file__).resolve().parents[2] / "shared/data/bank-full.csv")
    parser.add_argument("--csv", default=default_csv, help="bank-full.csv, in date order (default: $BANK_CSV)")
    parser.add_argument("--only", default="", help="run only the variants whose name holds this text")
    parser.add_argument("--start", default="2009-01", help="first month scored (default 2009-01)")
    parser.add_argument("--end", default="2010-11", help="last month scored (default 2010-11)")
    args = parser.parse_args()
    rows = read_uci_csv(args.csv)
    X = feature_frame(rows, rows["contact_month"], rows["contact_day"], rows["contact_year"]).reset_index(drop=True)
    y = rows["is_subscribed"].astype(int).to_numpy()
    dates = pd.Series(pd.to_datetime(rows["contact_date"]).to_numpy())
    results = {}
    for name, make in VARIANTS.items():
        if args.only in name:
            results[name] = backtest_metrics(rolling_origin(X, y, dates, make, args.start, args.end))
            print(f"  {name}: done", file=sys.stderr, flush=True)
    if not results:
        parser.error(f"no variant's name holds {args.only!r}")
    print_table(
        f"rolling origin, monthly {args.start} to {args.end} (fit on every earlier call, score the month)", results
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
