"""Probabilities at tonight's level: recalibrate a fitted model on the latest labelled calls.

The share of calls ending in a subscription moves a lot over time (5% of 2008's calls in
bank-full, 52% of 2010's), and the nightly list is scored after the last labelled call,
not among the training calls. A model's probabilities fitted on all the past average
over regimes; recalibrated on the most recent calls, they are at the level of the
period just before scoring, which is the best estimate of tomorrow's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit, logit
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from bank_scoring.evaluate import expected_calibration_error
from bank_scoring.features import MONTHS

_MONTH_NUMBER = {name: i + 1 for i, name in enumerate(MONTHS)}
_CLIP = 1e-6
# The calibration may stretch or shrink the model's spread, never flip or flatten the
# order it gives: a recalibrated list is the same list.
SLOPE_BOUNDS = (0.25, 4.0)


def call_days(X: pd.DataFrame) -> np.ndarray:
    """Each row's call date as a day number (NaN where the year, month or day is unknown)."""
    if not {"contact_year", "contact_month", "contact_day"} <= set(X.columns):
        return np.full(len(X), np.nan)
    parts = pd.DataFrame(
        {
            "year": pd.to_numeric(X["contact_year"], errors="coerce").to_numpy(),
            "month": X["contact_month"].astype(object).map(_MONTH_NUMBER).to_numpy(dtype=float),
            "day": pd.to_numeric(X["contact_day"], errors="coerce").to_numpy(),
        }
    )
    dates = pd.to_datetime(parts, errors="coerce")
    days = (dates - pd.Timestamp("1970-01-01")).dt.days
    return days.to_numpy(dtype=float, na_value=np.nan)


def day_strings(days: np.ndarray) -> np.ndarray:
    """Day numbers as ISO dates (None where unknown), the call dates metrics group by."""
    dates = pd.to_datetime(pd.Series(np.asarray(days, dtype=float)), unit="D", errors="coerce")
    return dates.dt.strftime("%Y-%m-%d").where(dates.notna(), None).to_numpy(dtype=object)


def recent_mask(days: np.ndarray, window_days: int, min_calls: int) -> np.ndarray:
    """The calls of the last ``window_days`` before the latest call, widened to at least
    ``min_calls`` of the latest calls."""
    known = ~np.isnan(days)
    latest = np.nanmax(days)
    mask = known & (days > latest - window_days)
    if mask.sum() < min(min_calls, known.sum()):
        cutoff = np.sort(days[known])[-min(min_calls, known.sum())]
        mask = known & (days >= cutoff)
    return mask


def fit_platt(scores: np.ndarray, y: np.ndarray, slope: bool) -> tuple[float, float]:
    """(a, b) minimising the log-loss of sigmoid(a * logit(score) + b); a is 1 when not fitted."""
    z = logit(np.clip(scores, _CLIP, 1 - _CLIP))
    y = np.asarray(y, dtype=float)

    def loss(theta):
        a, b = (theta[0], theta[1]) if slope else (1.0, theta[0])
        p = np.clip(expit(a * z + b), _CLIP, 1 - _CLIP)
        return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))

    start = np.array([1.0, 0.0]) if slope else np.array([0.0])
    bounds = [SLOPE_BOUNDS, (None, None)] if slope else [(None, None)]
    theta = minimize(loss, start, method="L-BFGS-B", bounds=bounds).x
    return (float(theta[0]), float(theta[1])) if slope else (1.0, float(theta[0]))


class RecentCalibrated(ClassifierMixin, BaseEstimator):
    """A classifier whose probabilities are recalibrated on the latest labelled calls.

    ``estimator`` (a Pipeline) is fitted on all the calls it is given. The calibration,
    sigmoid(a * logit(p) + b), is fitted on the calls of the last ``window_days`` before
    the latest call (at least ``min_calls`` of them), scored by a copy of the estimator
    fitted on the earlier calls only (``cross_fit``, the honest way: those scores are
    out of sample, as tonight's will be) or by the estimator itself. ``slope`` False
    fits only the shift b, which moves the level and keeps the spread. Calls of unknown
    date (a shuffled file) cannot be placed in time: then nothing is recalibrated.

    The recalibration is for calls after the training calls (tonight's list); calls
    inside the training period are scored at their own level by ``in_time_scores``.
    """

    def __init__(self, estimator, window_days: int = 60, min_calls: int = 500, slope: bool = True, cross_fit=True):
        self.estimator = estimator
        self.window_days = window_days
        self.min_calls = min_calls
        self.slope = slope
        self.cross_fit = cross_fit

    def fit(self, X: pd.DataFrame, y):
        y = np.asarray(y, dtype=int)
        self.estimator_ = clone(self.estimator).fit(X, y)
        self.classes_ = self.estimator_.classes_
        self.calibration_ = (1.0, 0.0)
        self.calibration_calls_ = 0
        self.calibration_error_ = None  # (before, after) on the calibration calls
        days = call_days(X)
        if np.isnan(days).all():
            return self
        recent = recent_mask(days, self.window_days, self.min_calls)
        earlier = ~recent
        if recent.sum() == 0 or len(np.unique(y[recent])) < 2:
            return self
        if self.cross_fit and len(np.unique(y[earlier])) == 2:
            scorer = clone(self.estimator).fit(X[earlier], y[earlier])
        else:
            scorer = self.estimator_
        raw = scorer.predict_proba(X[recent])[:, 1]
        self.calibration_ = fit_platt(raw, y[recent], self.slope)
        self.calibration_calls_ = int(recent.sum())
        self.calibration_error_ = (
            expected_calibration_error(y[recent], raw),
            expected_calibration_error(y[recent], self._recalibrate(raw)),
        )
        return self

    def _recalibrate(self, raw: np.ndarray) -> np.ndarray:
        a, b = self.calibration_
        return expit(a * logit(np.clip(raw, _CLIP, 1 - _CLIP)) + b) if (a, b) != (1.0, 0.0) else raw

    def predict_proba(self, X) -> np.ndarray:
        p = self._recalibrate(self.estimator_.predict_proba(X)[:, 1])
        return np.column_stack([1 - p, p])

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def in_time_scores(model, X: pd.DataFrame) -> np.ndarray:
    """Probabilities for calls at their own dates, inside the training period: without the
    recalibration, which corrects what a model gets wrong about calls *after* its training
    calls (tonight's). The fixed holdout is judged on these; ranking is the same either way.
    """
    inner = model.estimator_ if isinstance(model, RecentCalibrated) else model
    return inner.predict_proba(X)[:, 1]
