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
# The correction is measured on the latest whole days holding at most this many calls, scored
# by a copy fitted before them: that copy is then as far from those calls as the served model
# is from the nights it scores (days, for a weekly retrain of a busy centre), so it measures
# the error the served model will make. Measured on a month of calls instead, it includes a
# level change the served model has already learnt from its own date columns, and adds it a
# second time (docs/loop.md: the simulated centre's field ECE 0.18-0.29 after the base rate
# tripled, against 0.03-0.08 with this cap).
CALIBRATION_MAX_CALLS = 1_500


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


def recent_mask(days: np.ndarray, window_days: int, min_calls: int, max_calls: int | None = None) -> np.ndarray:
    """The calls of the last ``window_days`` before the latest call, widened to at least
    ``min_calls`` of the latest calls, and narrowed to the latest whole days holding at most
    ``max_calls`` (never less than the latest day)."""
    known = ~np.isnan(days)
    latest = np.nanmax(days)
    mask = known & (days > latest - window_days)
    if mask.sum() < min(min_calls, known.sum()):
        cutoff = np.sort(days[known])[-min(min_calls, known.sum())]
        mask = known & (days >= cutoff)
    if max_calls is not None and mask.sum() > max_calls:
        values, counts = np.unique(days[mask], return_counts=True)
        newest_first = np.cumsum(counts[::-1])
        keep = max(1, int(np.searchsorted(newest_first, max_calls, side="right")))
        mask &= days >= values[::-1][keep - 1]
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


def weight_params(estimator, sample_weight) -> dict:
    """The fit keyword that carries row weights: ``model__sample_weight`` for a Pipeline whose
    last step is named "model" (``<step>__sample_weight`` for another name),
    ``sample_weight`` for a bare estimator; nothing without weights."""
    if sample_weight is None:
        return {}
    steps = getattr(estimator, "steps", None)
    if steps:
        return {f"{steps[-1][0]}__sample_weight": sample_weight}
    return {"sample_weight": sample_weight}


class RecentCalibrated(ClassifierMixin, BaseEstimator):
    """A classifier whose probabilities are recalibrated on the latest labelled calls.

    ``estimator`` (a Pipeline) is fitted on all the calls it is given. The calibration,
    sigmoid(a * logit(p) + b), is fitted on the calls of the last ``window_days`` before
    the latest call (at least ``min_calls`` of them; at most the latest whole days holding
    ``max_calls``: CALIBRATION_MAX_CALLS),
    scored by a copy of the estimator fitted on the earlier calls only (``cross_fit``, the
    honest way: those scores are out of sample, as tonight's will be) or by the estimator
    itself. ``slope`` False
    fits only the shift b, which moves the level and keeps the spread. Calls of unknown
    date (a shuffled file) cannot be placed in time: then nothing is recalibrated.

    The recalibration is for calls after the training calls (tonight's list); calls
    inside the training period are scored at their own level by ``in_time_scores``.
    """

    def __init__(
        self,
        estimator,
        window_days: int = 60,
        min_calls: int = 500,
        max_calls: int = CALIBRATION_MAX_CALLS,
        slope: bool = True,
        cross_fit: bool = True,
    ):
        self.estimator = estimator
        self.window_days = window_days
        self.min_calls = min_calls
        self.max_calls = max_calls
        self.slope = slope
        self.cross_fit = cross_fit

    def fit(self, X: pd.DataFrame, y, sample_weight=None):
        """Fit; ``sample_weight`` (one per row, or None) goes to both inner fits' last step.

        The recalibration itself stays unweighted: it is fitted on the latest calls.
        """
        y = np.asarray(y, dtype=int)
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        self.estimator_ = clone(self.estimator).fit(X, y, **weight_params(self.estimator, weights))
        self.classes_ = self.estimator_.classes_
        self.calibration_ = (1.0, 0.0)
        self.calibration_calls_ = 0
        self.calibration_error_ = None  # (before, after) on the calibration calls
        self.calibration_from_ = None  # the first day (number) of the calibration calls
        days = call_days(X)
        self.last_day_ = float(np.nanmax(days)) if not np.isnan(days).all() else np.nan
        if np.isnan(days).all():
            return self
        recent = recent_mask(days, self.window_days, self.min_calls, self.max_calls)
        earlier = ~recent
        if recent.sum() == 0 or len(np.unique(y[recent])) < 2:
            return self
        self.scorer_ = None
        if self.cross_fit and len(np.unique(y[earlier])) == 2:
            scorer = clone(self.estimator).fit(
                X[earlier], y[earlier], **weight_params(self.estimator, None if weights is None else weights[earlier])
            )
            self.scorer_ = scorer  # what the model knew before the latest period, for in_time_scores
        else:
            scorer = self.estimator_
        raw = scorer.predict_proba(X[recent])[:, 1]
        self.calibration_ = fit_platt(raw, y[recent], self.slope)
        self.calibration_calls_ = int(recent.sum())
        self.calibration_from_ = float(np.nanmin(days[recent]))
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
    """Each call scored as the model would have scored it on its day.

    - Calls before the latest period (the calibration calls' first day): the pipeline's own
      probabilities; its date columns carry those periods' levels.
    - Calls in the latest period: the copy fitted before that period, recalibrated: what the
      model knew then, as tonight's list is scored after everything the model knows.
    - Calls after the training calls: the pipeline, recalibrated, as tonight's.

    The holdout and the gate are judged on these; the order within a day of calls before or
    after the latest period is the pipeline's either way.
    """
    if not isinstance(model, RecentCalibrated):
        return model.predict_proba(X)[:, 1]
    raw = model.estimator_.predict_proba(X)[:, 1]
    start = getattr(model, "calibration_from_", None)
    if start is None or not model.calibration_calls_:
        return raw
    days = call_days(X)
    out = raw.copy()
    after = days > model.last_day_
    out[after] = model._recalibrate(raw[after])
    latest = (days >= start) & ~after
    scorer = getattr(model, "scorer_", None) or model.estimator_
    if latest.any():
        out[latest] = model._recalibrate(scorer.predict_proba(X[latest])[:, 1])
    return out
