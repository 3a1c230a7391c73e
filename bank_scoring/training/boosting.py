"""Gradient boosting as the list uses it: stopped at the number of trees that best predicts
the latest training calls, then fitted on all of them."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import log_loss

from bank_scoring.features import CATEGORICAL, FEATURES

# Early stopping needs this many calls of each outcome (with fewer, on 200 calls, stopping
# early kept too few trees to order anyone).
MIN_PER_OUTCOME = 50
# The share of the training calls, the latest by call date, that chooses the trees.
LATEST_SHARE = 0.1


def encoded_order() -> list[str]:
    """The columns gradient boosting is fitted on: CategoryCodes' output, categorical first."""
    return [*CATEGORICAL, *(c for c in FEATURES if c not in CATEGORICAL)]


def call_time(X: np.ndarray) -> np.ndarray:
    """Each encoded row's call time, ordered as the calls were made: the clock (year +
    (month - 1) / 12, CallClock's) plus the day within its month; NaN when unknown (CallClock
    sets the clock to 0 when no training call's year was known)."""
    order = encoded_order()
    clock, day = X[:, order.index("contact_year")], X[:, order.index("contact_day")]
    return np.where(clock > 0, clock + (day - 1) / (12 * 31), np.nan)


class EarlyStoppedBoosting(HistGradientBoostingClassifier):
    """Gradient boosting whose number of trees is chosen on the latest calls.

    With ``early_stopping`` True and dated calls holding at least MIN_PER_OUTCOME of each
    outcome: fitted on all but the latest LATEST_SHARE of the calls (by call date), the
    number of trees whose log loss on those latest calls is lowest is kept, and the model is
    fitted again on every call with that many trees (``stopped_on_`` "latest calls"). The
    model is used after its training calls, so the trees are chosen as it is used; and the
    fit no longer depends on a random validation split. On bank-full's rolling origin, over five
    seeds, the blend (the default) gets same-day AUC 0.6309 and pooled 0.7755 on average
    against 0.6303 and 0.772 with scikit-learn's random tenth; gradient boosting alone
    0.597 against 0.602 (docs/model.md).

    Undated calls, or latest calls without both outcomes: scikit-learn's early stopping on
    a random stratified tenth (``stopped_on_`` "random tenth"). Fewer than MIN_PER_OUTCOME
    calls of an outcome: every tree (scikit-learn's "auto" stops early only above 10,000
    calls, and below them all 300 trees overfitted: pooled AUC 0.734 against 0.767 on 2,000
    of bank-full's calls; bench/early_stopping.py).
    """

    def fit(self, X, y, sample_weight=None):
        wanted, trees = self.early_stopping, self.max_iter
        y = np.asarray(y)
        counts = np.unique(y, return_counts=True)[1]
        self.stopped_on_ = None
        if wanted is not True:
            return super().fit(X, y, sample_weight=sample_weight)
        try:
            if len(counts) < 2 or counts.min() < MIN_PER_OUTCOME:
                self.early_stopping = False
                return super().fit(X, y, sample_weight=sample_weight)
            latest = self._latest(np.asarray(X, dtype=np.float64), y)
            if latest is None:
                self.stopped_on_ = "random tenth"
                return super().fit(X, y, sample_weight=sample_weight)
            self.stopped_on_ = "latest calls"
            w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
            super().fit(  # stops n_iter_no_change trees past the best on the latest calls
                X[~latest],
                y[~latest],
                sample_weight=None if w is None else w[~latest],
                X_val=X[latest],
                y_val=y[latest],
                sample_weight_val=None if w is None else w[latest],
            )
            self.early_stopping = False
            losses = [
                log_loss(y[latest], p[:, 1], sample_weight=None if w is None else w[latest], labels=[0, 1])
                for p in self.staged_predict_proba(X[latest])
            ]
            self.max_iter = int(np.argmin(losses)) + 1
            return super().fit(X, y, sample_weight=w)
        finally:
            self.early_stopping, self.max_iter = wanted, trees

    @staticmethod
    def _latest(X: np.ndarray, y: np.ndarray) -> np.ndarray | None:
        """The latest LATEST_SHARE of the calls by call time, whole days; None when the
        dates are mostly unknown or either side lacks an outcome."""
        time = call_time(X)
        known = ~np.isnan(time)
        if known.mean() < 0.5:
            return None
        latest = known & (time > np.quantile(time[known], 1 - LATEST_SHARE))
        if len(np.unique(y[latest])) < 2 or len(np.unique(y[~latest])) < 2:
            return None
        return latest
