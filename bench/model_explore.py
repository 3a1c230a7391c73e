"""What was tried for the nightly list, on the same rolling-origin backtest as
bench/model_quality.py: the variants behind the default model's settings, kept or not.

    python bench/model_explore.py [--csv PATH] [--only SUBSTRING] [--recal-max-calls N] [--versus SUBSTRING]

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
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, SplineTransformer, StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bank_scoring.evaluate import paired_day_bootstrap  # noqa: E402
from bank_scoring.features import (  # noqa: E402
    BOOLEAN,
    CATEGORICAL,
    CUSTOMER_CATEGORICAL,
    NUMERIC,
    CategoryCodes,
    ClipCallYear,
    feature_frame,
)
from bank_scoring.ingest import read_uci_csv  # noqa: E402
from bank_scoring.training import build_pipeline  # noqa: E402
from bank_scoring.training.backtest import backtest_metrics, rolling_origin  # noqa: E402
from bank_scoring.training.calibration import RecentCalibrated, call_days, recent_mask  # noqa: E402
from bank_scoring.training.estimators import hgb_interaction_groups  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_quality import previous_default, print_table  # noqa: E402


def hgb(learning_rate=0.2, min_leaf=100, leaves=31, l2=1.0, constrained=True, seed=0, **extra) -> Pipeline:
    model = HistGradientBoostingClassifier(
        learning_rate=learning_rate,
        max_iter=300,
        max_leaf_nodes=leaves,
        min_samples_leaf=min_leaf,
        l2_regularization=l2,
        categorical_features=list(range(len(CATEGORICAL))),
        interaction_cst=hgb_interaction_groups() if constrained is True else (constrained or None),
        random_state=seed,
        **extra,
    )
    return Pipeline([("year", ClipCallYear()), ("encode", CategoryCodes(CATEGORICAL)), ("model", model)])


# CategoryCodes' column order: categoricals, flags, numbers, call day and year. Fewer
# contacts in this campaign, never more likely (campaign is column 11 of 16).
CAMPAIGN_DECREASING = [0] * 11 + [-1, 0, 0, 0, 0]
# Customer columns with their effect kept additive too (one group each), date separate.
ONE_GROUP_EACH = [[i] for i in range(len(CATEGORICAL) + 3 + len(NUMERIC) + 2)]


def _bins(values, edges, labels) -> np.ndarray:
    return pd.cut(values, edges, labels=labels).astype(str).to_numpy()


def extras(X: pd.DataFrame) -> pd.DataFrame:
    """Customer columns a linear model cannot build itself: bins, logs, and crossed categories."""
    out = X.copy()
    out["age_bin"] = _bins(X["age"], [0, 25, 30, 35, 45, 55, 60, 200], list("abcdefg"))
    out["pdays_bin"] = _bins(X["pdays"], [-10, 0, 90, 180, 270, 370, 1e6], list("nabcde"))
    out["campaign_bin"] = _bins(X["campaign"], [0, 1, 2, 3, 5, 1e6], list("abcde"))
    out["previous_any"] = (X["previous_contacts"] > 0).astype(float)
    out["log_balance"] = np.sign(X["balance"]) * np.log1p(np.abs(X["balance"]))
    out["log_campaign"] = np.log1p(X["campaign"])
    out["log_previous"] = np.log1p(X["previous_contacts"])
    flag = {c: X[c].map({1.0: "y", 0.0: "n"}).astype(str) for c in BOOLEAN}
    out["outcome_x_channel"] = X["previous_outcome"].astype(str) + X["contact_channel"].astype(str)
    out["outcome_x_housing"] = X["previous_outcome"].astype(str) + flag["has_housing_loan"]
    out["housing_x_loan"] = flag["has_housing_loan"] + flag["has_personal_loan"]
    out["channel_x_housing"] = X["contact_channel"].astype(str) + flag["has_housing_loan"]
    out["age_x_marital"] = out["age_bin"] + X["marital"].astype(str)
    out["job_x_housing"] = X["job"].astype(str) + flag["has_housing_loan"]
    return out


EXTRA_CATS = ["age_bin", "pdays_bin", "campaign_bin"]
CROSSED = ["outcome_x_channel", "outcome_x_housing", "housing_x_loan", "channel_x_housing", "age_x_marital"]
EXTRA_NUMS = ["previous_any", "log_balance", "log_campaign", "log_previous"]


def customer_encoding(crossed=True) -> ColumnTransformer:
    """One-hot customer categories and bins (and crossed categories), scaled numbers; no date."""
    cats = list(CUSTOMER_CATEGORICAL) + EXTRA_CATS + (CROSSED + ["job_x_housing"] if crossed else [])
    nums = list(BOOLEAN) + list(NUMERIC) + EXTRA_NUMS
    return ColumnTransformer(
        [
            ("cats", OneHotEncoder(handle_unknown="ignore", sparse_output=False, min_frequency=20), cats),
            ("numbers", StandardScaler(), nums),
        ]
    )


def logistic_extras(C=0.3, crossed=True) -> Pipeline:
    """Logistic regression on the customer extras, with the month and year additive."""
    year = Pipeline(
        [("impute", SimpleImputer(strategy="median", keep_empty_features=True)), ("scale", StandardScaler())]
    )
    customer = customer_encoding(crossed)
    encode = ColumnTransformer(
        [
            *customer.transformers,
            ("month", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["contact_month"]),
            ("call", year, ["contact_day", "contact_year"]),
        ]
    )
    steps = [("year", ClipCallYear()), ("extras", FunctionTransformer(extras)), ("encode", encode)]
    return Pipeline([*steps, ("model", LogisticRegression(C=C, max_iter=3000))])


def logistic(C=1.0) -> Pipeline:
    return build_pipeline("logistic_regression", 0).set_params(model__C=C)


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

    def __init__(self, pairs_per_day=400, seed=0, engineered=False, C=1.0):
        self.pairs_per_day, self.seed, self.engineered, self.C = pairs_per_day, seed, engineered, C

    def _encode(self):
        if self.engineered:
            return Pipeline([("extras", FunctionTransformer(extras)), ("encode", customer_encoding())])
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
        self.model_ = LogisticRegression(C=self.C, fit_intercept=False, max_iter=3000).fit(np.vstack([D, -D]), target)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):
        p = expit(self.encode_.transform(X) @ self.model_.coef_[0])
        return np.column_stack([1 - p, p])


class Window(ClassifierMixin, BaseEstimator):
    """Fit on the calls of the last ``days`` days only (at least the latest ``min_calls``)."""

    def __init__(self, estimator, days=183, min_calls=2000):
        self.estimator, self.days, self.min_calls = estimator, days, min_calls

    def fit(self, X, y):
        keep = recent_mask(call_days(X), self.days, self.min_calls)
        if len(np.unique(y[keep])) < 2:
            keep = np.ones(len(y), bool)
        self.estimator_ = clone(self.estimator).fit(X[keep], y[keep])
        self.classes_ = self.estimator_.classes_
        return self

    def predict_proba(self, X):
        return self.estimator_.predict_proba(X)


class Bagged(ClassifierMixin, BaseEstimator):
    """The mean log-odds of ``n`` copies, each fitted on a bootstrap sample of whole call days."""

    def __init__(self, estimator, n=5, seed=0):
        self.estimator, self.n, self.seed = estimator, n, seed

    def fit(self, X, y):
        rng, days = np.random.default_rng(self.seed), call_days(X)
        unique = np.unique(days)
        self.fitted_ = []
        for _ in range(self.n):
            counts = pd.Series(rng.choice(unique, len(unique))).value_counts()
            idx = np.repeat(np.arange(len(y)), pd.Series(days).map(counts).fillna(0).astype(int).to_numpy())
            self.fitted_.append(clone(self.estimator).fit(X.iloc[idx], y[idx]))
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):
        return Blend.predict_proba(self, X)


class RecentRefit(ClassifierMixin, BaseEstimator):
    """RecentCalibrated's recalibration with the customer's columns added: on the latest
    ``window_days`` (at least ``min_calls``), a penalised logistic regression of the outcome on
    the log-odds of a copy fitted before them (unpenalised in effect) and the customer
    encoding: it corrects the customer effects that changed lately, and sets the level."""

    def __init__(self, estimator, window_days=60, min_calls=500, C=0.05):
        self.estimator, self.window_days, self.min_calls, self.C = estimator, window_days, min_calls, C

    def _design(self, X, model):
        z = logit(np.clip(model.predict_proba(X)[:, 1], 1e-6, 1 - 1e-6))
        return np.column_stack([30 * z, self.encode_.transform(extras(X))])

    def fit(self, X, y):
        self.estimator_ = clone(self.estimator).fit(X, y)
        recent = recent_mask(call_days(X), self.window_days, self.min_calls, 10_000)
        early = clone(self.estimator).fit(X[~recent], y[~recent])
        self.encode_ = customer_encoding(crossed=False).fit(extras(X[recent]))
        self.refit_ = LogisticRegression(C=self.C, max_iter=3000).fit(self._design(X[recent], early), y[recent])
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):
        return self.refit_.predict_proba(self._design(X, self.estimator_))


class Blend(ClassifierMixin, BaseEstimator):
    """The mean log-odds of several models (weighted by ``weights``, None: equally)."""

    def __init__(self, estimators, weights=None):
        self.estimators, self.weights = estimators, weights

    def fit(self, X, y):
        self.fitted_ = [clone(e).fit(X, y) for e in self.estimators]
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):
        z = [logit(np.clip(m.predict_proba(X)[:, 1], 1e-6, 1 - 1e-6)) for m in self.fitted_]
        z = np.average(z, axis=0, weights=getattr(self, "weights", None))
        return np.column_stack([1 - expit(z), expit(z)])


# RecentCalibrated's settings for every variant below (--recal-max-calls); empty: the project's.
RECAL: dict = {}


def recal(estimator, **settings) -> RecentCalibrated:
    return RecentCalibrated(estimator, **{**RECAL, **settings})


def pairs_blend(days=183, weight=1.0, seed=0, seeds=1) -> RecentCalibrated:
    """The default HGB and the same-day-pairs model fitted on the last ``days`` days (at least
    2,000 calls; 1,500 under 4 months), log-odds weighted 1 : ``weight``, recalibrated. With
    ``seeds`` > 1 the pairs model is the mean of that many, each on other sampled pairs."""
    pairs = [Window(SameDayPairs(seed=seed + i), days, 1500 if days < 150 else 2000) for i in range(seeds)]
    return recal(Blend([hgb(), pairs[0] if seeds == 1 else Blend(pairs)], [1, weight]))


VARIANTS = {
    "previous default (free interactions, lr 0.2, leaf 40)": lambda: previous_default(0),
    "free interactions + recalibration": lambda: recal(previous_default(0)),
    "date kept additive (interaction constraints)": lambda: hgb(),
    "additive + recalibration, 60 days (the default)": lambda: recal(hgb()),
    "additive + recalibration, 30 days": lambda: recal(hgb(), window_days=30),
    "additive + recalibration, 90 days": lambda: recal(hgb(), window_days=90),
    "additive + recalibration, shift only": lambda: recal(hgb(), slope=False),
    "additive + recalibration in-sample (no cross-fit)": lambda: recal(hgb(), cross_fit=False),
    "additive, lr 0.1": lambda: recal(hgb(learning_rate=0.1)),
    "additive, stronger regularisation (lr .05, 15 leaves, leaf 200, l2 5)": lambda: recal(hgb(0.05, 200, 15, 5.0)),
    "additive, recency weights (half-life 180 days)": lambda: recal(Weighted(hgb(), half_life=180)),
    "additive, every call day weighted equally": lambda: recal(Weighted(hgb(), per_day=True)),
    "ranking objective by call date (same-day pairs)": lambda: recal(SameDayPairs()),
    "logistic regression + recalibration": lambda: recal(build_pipeline("logistic_regression", 0)),
    "blend: additive HGB + logistic regression": lambda: recal(
        Blend([hgb(), build_pipeline("logistic_regression", 0)])
    ),
    # Issue 17, second round: within-day ranking, no future information.
    "new: window, last 6 months": lambda: recal(Window(hgb(), 183)),
    "new: window, last 12 months": lambda: recal(Window(hgb(), 365)),
    "new: recency half-life 60 days": lambda: recal(Weighted(hgb(), half_life=60)),
    "new: recency half-life 90 days": lambda: recal(Weighted(hgb(), half_life=90)),
    "new: logistic, customer extras": lambda: recal(logistic_extras(crossed=False)),
    "new: logistic, extras + crossed categories": lambda: recal(logistic_extras()),
    "new: logistic, extras + crossed, C 0.05": lambda: recal(logistic_extras(0.05)),
    "new: HGB, campaign monotone": lambda: recal(hgb(monotonic_cst=CAMPAIGN_DECREASING)),
    "new: HGB, every column additive": lambda: recal(hgb(constrained=ONE_GROUP_EACH)),
    "new: HGB, lr .1, leaf 300, 7 leaves": lambda: recal(hgb(0.1, 300, 7)),
    "new: bagged HGB (4 day-bootstraps)": lambda: recal(Bagged(hgb(), 4)),
    "new: same-day pairs, 2000 per day": lambda: recal(SameDayPairs(2000)),
    "new: same-day pairs, extras": lambda: recal(SameDayPairs(engineered=True, C=0.1)),
    "new: recent refit 60 days": lambda: RecentRefit(hgb()),
    "new: recent refit 120 days": lambda: RecentRefit(hgb(), 120, 1500),
    "new: blend HGB + logistic extras": lambda: recal(Blend([hgb(), logistic_extras()])),
    "new: logistic, recency half-life 90 days": lambda: recal(Weighted(logistic(), half_life=90)),
    "new: logistic, window 4 months": lambda: recal(Window(logistic(), 122, 1500)),
    "new: logistic, window 6 months": lambda: recal(Window(logistic(), 183)),
    "new: blend HGB + logistic window 6 months": lambda: recal(Blend([hgb(), Window(logistic(), 183)])),
    "new: blend HGB + logistic half-life 90": lambda: recal(Blend([hgb(), Weighted(logistic(), half_life=90)])),
    "new: same-day pairs, window 4 months": lambda: recal(Window(SameDayPairs(), 122, 1500)),
    "new: same-day pairs, window 6 months": lambda: recal(Window(SameDayPairs(), 183)),
    "new: same-day pairs, window 9 months": lambda: recal(Window(SameDayPairs(), 274)),
    "new: same-day pairs, window 6 months, 2000 per day": lambda: recal(Window(SameDayPairs(2000), 183)),
    "new: blend HGB + same-day pairs window 4 months": lambda: pairs_blend(122),
    "new: blend HGB + same-day pairs window 6 months": lambda: pairs_blend(),
    "new: blend HGB + same-day pairs window 9 months": lambda: pairs_blend(274),
    "new: blend HGB + same-day pairs window 6 months, 1:2": lambda: pairs_blend(weight=2),
    "new: blend HGB + same-day pairs window 6 months, 1:2, pairs seed 1": lambda: pairs_blend(weight=2, seed=1),
    "new: blend HGB + same-day pairs window 6 months, 1:2, pairs seed 2": lambda: pairs_blend(weight=2, seed=2),
    "new: blend HGB + same-day pairs window 6 months, 1:1.5": lambda: pairs_blend(weight=1.5),
    "new: blend HGB + same-day pairs window 6 months, 1:3": lambda: pairs_blend(weight=3),
    "new: blend HGB + same-day pairs window 6 months, 1:2, pairs of 5 seeds": lambda: pairs_blend(weight=2, seeds=5),
    "new: blend HGB + same-day pairs window 6 months, 1:1, pairs of 5 seeds": lambda: pairs_blend(seeds=5),
    "new: blend HGB + same-day pairs window 5 months, 1:2": lambda: pairs_blend(152, weight=2),
    "new: blend HGB + same-day pairs window 7 months, 1:2": lambda: pairs_blend(213, weight=2),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_csv = os.environ.get("BANK_CSV") or str(Path(__file__).resolve().parents[2] / "shared/data/bank-full.csv")
    parser.add_argument("--csv", default=default_csv, help="bank-full.csv, in date order (default: $BANK_CSV)")
    parser.add_argument(
        "--only", default="", help="run only the variants whose name holds this text (or one of A|B|...)"
    )
    parser.add_argument("--start", default="2009-01", help="first month scored (default 2009-01)")
    parser.add_argument("--end", default="2010-11", help="last month scored (default 2010-11)")
    parser.add_argument("--recal-max-calls", type=int, help="RecentCalibrated's max_calls (default: the project's)")
    parser.add_argument("--versus", help="also print each variant's same-day AUC minus this one's (day bootstrap)")
    args = parser.parse_args()
    if args.recal_max_calls:
        RECAL["max_calls"] = args.recal_max_calls
    rows = read_uci_csv(args.csv)
    X = feature_frame(rows, rows["contact_month"], rows["contact_day"], rows["contact_year"]).reset_index(drop=True)
    y = rows["is_subscribed"].astype(int).to_numpy()
    dates = pd.Series(pd.to_datetime(rows["contact_date"]).to_numpy())
    results, scores = {}, {}
    for name, make in VARIANTS.items():
        if any(part in name for part in args.only.split("|")) or (args.versus and args.versus in name):
            scores[name] = rolling_origin(X, y, dates, make, args.start, args.end)
            results[name] = backtest_metrics(scores[name])
            print(f"  {name}: done", file=sys.stderr, flush=True)
    if not results:
        parser.error(f"no variant's name holds {args.only!r}")
    print_table(
        f"rolling origin, monthly {args.start} to {args.end} (fit on every earlier call, score the month)"
        + (f", recalibration on at most {args.recal_max_calls:,} calls" if args.recal_max_calls else ""),
        results,
    )
    base = next((n for n in scores if args.versus and args.versus in n), None)
    for name in [n for n in scores if base and n != base]:
        days = scores[name]["call_date"].dt.strftime("%Y-%m-%d")
        b = paired_day_bootstrap(scores[name]["y"], scores[name]["propensity"], scores[base]["propensity"], days)
        low, high, diff = b["same_day_auc_low"], b["same_day_auc_high"], b["same_day_auc_diff"]
        print(f"{name}: same-day AUC minus {base}'s: {diff:+.4f} (95% day bootstrap {low:+.4f} to {high:+.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
