"""A rolling-origin backtest: judge a recipe the way the nightly list uses it.

For each period (a month by default) from ``start`` to ``end``: fit on every call made
before the period starts, score the period's calls. The scores of all periods, pooled,
are judged with the pooled and the list's figures (same-day AUC, within-day lift) and
calibration. A random cross-validation fold mixes every month into training, so it
rewards effects that move whole days and trains on the future; this does neither.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from bank_scoring.evaluate import classification_metrics

log = logging.getLogger(__name__)

# The headline backtest on bank-full: every month from the first one with a year of
# calls before it, to the last whole month.
DEFAULT_START = "2009-01"
DEFAULT_END = "2010-11"


def origins(call_dates: pd.Series, start: str = DEFAULT_START, end: str = DEFAULT_END, freq: str = "M") -> list:
    """The periods to score: pandas Periods of ``freq`` from start to end holding calls."""
    dates = pd.to_datetime(call_dates, errors="coerce")
    if dates.isna().all():
        raise ValueError("a rolling-origin backtest needs the calls' dates; these rows have none")
    periods = pd.period_range(pd.Period(start, freq), pd.Period(end, freq), freq=freq)
    present = set(dates.dt.to_period(freq).dropna().unique())
    return [p for p in periods if p in present]


def rolling_origin(
    X: pd.DataFrame,
    y: np.ndarray,
    call_dates: pd.Series,
    make_model: Callable[[], object],
    start: str = DEFAULT_START,
    end: str = DEFAULT_END,
    freq: str = "M",
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Scores of every call in [start, end] by a model fitted on the calls before its period.

    Returns one row per scored call: ``period``, ``call_date``, ``y``, ``propensity``,
    and the period's ``fit_seconds``. Calls without a date are never scored nor trained on.
    """
    dates = pd.to_datetime(pd.Series(np.asarray(call_dates)), errors="coerce")
    y = np.asarray(y, dtype=int)
    periods = dates.dt.to_period(freq)
    parts = []
    for period in origins(dates, start, end, freq):
        before = (dates < period.start_time).to_numpy()
        inside = (periods == period).to_numpy()
        if y[before].min(initial=1) == y[before].max(initial=0):
            continue  # one outcome only before this period: nothing to learn from
        model = make_model()
        started = time.perf_counter()
        model.fit(X[before], y[before])
        seconds = time.perf_counter() - started
        scored = model.predict_proba(X[inside])[:, 1]
        parts.append(
            pd.DataFrame(
                {
                    "period": str(period),
                    "call_date": dates[inside].to_numpy(),
                    "y": y[inside],
                    "propensity": scored,
                    "fit_seconds": seconds,
                }
            )
        )
        if progress:
            progress(f"{period}: trained on {int(before.sum()):,} calls, scored {int(inside.sum()):,}")
    if not parts:
        raise ValueError(f"no period between {start} and {end} had calls to score and both outcomes before it")
    return pd.concat(parts, ignore_index=True)


def backtest_metrics(scores: pd.DataFrame) -> dict[str, float]:
    """Pooled and list figures of a backtest's scores, with its total fit time."""
    metrics = classification_metrics(scores["y"], scores["propensity"], scores["call_date"])
    metrics["fit_seconds"] = float(scores.groupby("period")["fit_seconds"].first().sum())
    metrics["periods"] = int(scores["period"].nunique())
    return metrics


def per_period(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per period: calls, observed and predicted rate, same-day AUC and lift."""
    rows = []
    for period, part in scores.groupby("period", sort=True):
        m = classification_metrics(part["y"], part["propensity"], part["call_date"]) if part["y"].nunique() > 1 else {}
        rows.append(
            {
                "period": period,
                "calls": len(part),
                "observed_rate": float(part["y"].mean()),
                "predicted_rate": float(part["propensity"].mean()),
                "roc_auc": m.get("roc_auc", np.nan),
                "same_day_auc": m.get("same_day_auc", np.nan),
                "same_day_lift_top_decile": m.get("same_day_lift_top_decile", np.nan),
            }
        )
    return pd.DataFrame(rows)
