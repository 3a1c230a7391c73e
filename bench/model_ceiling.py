"""How high can same-day ranking AUC go on bank-full at all? Bounds for issue 17's 0.63.

    python bench/model_ceiling.py [--csv PATH] [--only SUBSTRING] [--folds 5]
                                  [--start 2009-01] [--end 2010-11] [--recal-max-calls N]

Every row scores the same calls as bench/model_explore.py's rolling-origin backtest (every
call from --start to --end) and prints the same columns. The rows:

- "rolling origin": the honest figure (fit on every earlier call, score the month), for reference.
- "within-month": for each month, its call days are split into --folds groups; each group is
  scored by a model fitted on every earlier call plus the month's other days (optionally
  weighted up). It sees the month's regime, which no nightly list can: an optimistic bound.
- "window only": cross-fitted by day on the scored calls alone (past and future months of the
  window, nothing before it).
- "all calls": cross-fitted by day on every call of the file (trains on the future).
- "feature: ...": one customer column on its own. Numbers are ranked as they are (flipped when
  that helps); categories by their subscription rate over the scored calls themselves (in
  sample, so optimistic). Only the ranking figures are meaningful for these rows.

Same-day AUC does not depend on the recalibration (each day is scored by one fit); the pooled
AUC and ECE of the recalibrated rows do (--recal-max-calls). The reference of what an honest
recipe reaches is bench/model_explore.py.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bank_scoring.evaluate import classification_metrics, grouped_auc  # noqa: E402
from bank_scoring.features import BOOLEAN, CUSTOMER_CATEGORICAL, NUMERIC, feature_frame  # noqa: E402
from bank_scoring.ingest import read_uci_csv  # noqa: E402
from bank_scoring.training import build_pipeline  # noqa: E402
from bank_scoring.training.backtest import backtest_metrics, rolling_origin  # noqa: E402
from bank_scoring.training.calibration import RecentCalibrated, weight_params  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_quality import print_table  # noqa: E402


class Upweighted:
    """A model whose fit weighs the rows flagged in ``boost`` (the scored month's) ``factor`` times."""

    def __init__(self, model, boost: np.ndarray, factor: float):
        self.model, self.boost, self.factor = model, boost, factor

    def fit(self, X, y):
        w = np.where(self.boost, self.factor, 1.0)
        self.model.fit(X, y, **weight_params(self.model, w / w.mean()))
        return self

    def predict_proba(self, X):
        return self.model.predict_proba(X)


def within_month(X, y, dates, make, start, end, folds, factor=1.0) -> pd.DataFrame:
    """Each month's calls, scored by day-group cross-fitting: train on every earlier call and
    the month's other days, score the held-out days."""
    months = dates.dt.to_period("M")
    parts = []
    for period in pd.period_range(start, end, freq="M"):
        inside = (months == period).to_numpy()
        if not inside.any():
            continue
        before = (dates < period.start_time).to_numpy()
        idx = np.flatnonzero(inside)
        day = dates[inside].dt.day.to_numpy()
        k = min(folds, len(np.unique(day)))
        if k < 2:
            continue
        seconds = 0.0
        for train_in, test_in in GroupKFold(k).split(idx, groups=day):
            train = np.r_[np.flatnonzero(before), idx[train_in]]
            boost = np.r_[np.zeros(before.sum(), bool), np.ones(len(train_in), bool)]
            model = make() if factor == 1.0 else Upweighted(make(), boost, factor)
            started = time.perf_counter()
            model.fit(X.iloc[train].reset_index(drop=True), y[train])
            seconds += time.perf_counter() - started
            test = idx[test_in]
            parts.append(
                pd.DataFrame(
                    {
                        "period": str(period),
                        "call_date": dates.iloc[test].to_numpy(),
                        "y": y[test],
                        "propensity": model.predict_proba(X.iloc[test])[:, 1],
                        "fit_seconds": seconds,
                    }
                )
            )
    out = pd.concat(parts, ignore_index=True)
    out["fit_seconds"] = out.groupby("period")["fit_seconds"].transform("max")
    return out


def day_crossfit(X, y, dates, make, pool: np.ndarray, scored: np.ndarray, folds) -> pd.DataFrame:
    """Calls in ``scored`` scored by a model fitted on the ``pool`` calls of the other day groups."""
    day = dates.dt.strftime("%Y-%m-%d").to_numpy()
    idx = np.flatnonzero(pool)
    parts, seconds = [], 0.0
    for train_in, test_in in GroupKFold(folds, shuffle=True, random_state=0).split(idx, groups=day[idx]):
        started = time.perf_counter()
        model = make().fit(X.iloc[idx[train_in]].reset_index(drop=True), y[idx[train_in]])
        seconds += time.perf_counter() - started
        test = idx[test_in][scored[idx[test_in]]]
        parts.append(
            pd.DataFrame(
                {
                    "period": dates.iloc[test].dt.to_period("M").astype(str).to_numpy(),
                    "call_date": dates.iloc[test].to_numpy(),
                    "y": y[test],
                    "propensity": model.predict_proba(X.iloc[test])[:, 1],
                }
            )
        )
    out = pd.concat(parts, ignore_index=True)
    return out.assign(fit_seconds=seconds / max(1, out["period"].nunique()))


def feature_rows(X, y, dates, scored: np.ndarray) -> dict[str, dict]:
    """Same-day (and pooled) AUC of each customer column alone on the scored calls."""
    Xs, ys, ds = X[scored], y[scored], dates[scored]
    days = ds.dt.strftime("%Y-%m-%d").to_numpy()
    out = {}
    for col in (*CUSTOMER_CATEGORICAL, *BOOLEAN, *NUMERIC):
        values = Xs[col]
        if col in CUSTOMER_CATEGORICAL:
            s = values.map(pd.Series(ys).groupby(values.to_numpy()).mean()).to_numpy(float)
        else:
            s = values.to_numpy(float)
            if grouped_auc(ys, s, days) < 0.5:
                s = -s
        m = classification_metrics(ys, (pd.Series(s).rank(pct=True) * 0.98 + 0.01).to_numpy(), ds)
        m.update(fit_seconds=float("nan"), expected_calibration_error=float("nan"), brier_score=float("nan"))
        kind = "rate in sample" if col in CUSTOMER_CATEGORICAL else "as is"
        out[f"feature: {col} ({kind})"] = m
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_csv = os.environ.get("BANK_CSV") or str(Path(__file__).resolve().parents[2] / "shared/data/bank-full.csv")
    parser.add_argument("--csv", default=default_csv, help="bank-full.csv, in date order (default: $BANK_CSV)")
    parser.add_argument("--only", default="", help="run only the rows whose name holds this text")
    parser.add_argument("--folds", type=int, default=5, help="day groups of the cross-fitted rows (default 5)")
    parser.add_argument("--start", default="2009-01", help="first month scored (default 2009-01)")
    parser.add_argument("--end", default="2010-11", help="last month scored (default 2010-11)")
    parser.add_argument("--recal-max-calls", type=int, help="RecentCalibrated's max_calls (default: the project's)")
    args = parser.parse_args()
    recal = {"max_calls": args.recal_max_calls} if args.recal_max_calls else {}
    rows = read_uci_csv(args.csv)
    X = feature_frame(rows, rows["contact_month"], rows["contact_day"], rows["contact_year"]).reset_index(drop=True)
    y = rows["is_subscribed"].astype(int).to_numpy()
    dates = pd.Series(pd.to_datetime(rows["contact_date"]).to_numpy())
    months = dates.dt.to_period("M")
    scored = ((months >= pd.Period(args.start, "M")) & (months <= pd.Period(args.end, "M"))).to_numpy()
    everything = np.ones(len(y), bool)

    def hgb():
        return RecentCalibrated(build_pipeline("hist_gradient_boosting", 0), **recal)

    def hgb_raw():
        return build_pipeline("hist_gradient_boosting", 0)

    def logistic():
        return RecentCalibrated(build_pipeline("logistic_regression", 0), **recal)

    def lr_raw():
        return build_pipeline("logistic_regression", 0)

    def within(make, factor=1.0):
        return lambda: within_month(X, y, dates, make, args.start, args.end, args.folds, factor)

    k = args.folds
    runs = {
        "rolling origin: default HGB (reference)": lambda: rolling_origin(X, y, dates, hgb, args.start, args.end),
        "rolling origin: logistic regression (reference)": lambda: rolling_origin(
            X, y, dates, logistic, args.start, args.end
        ),
        f"within-month ({k} day folds): default HGB": within(hgb),
        f"within-month ({k} day folds): HGB, month weighted x5": within(hgb, 5.0),
        f"within-month ({k} day folds): logistic regression": within(logistic),
        f"within-month ({k} day folds): logistic, month weighted x5": within(logistic, 5.0),
        f"window only ({k} day folds): HGB": lambda: day_crossfit(X, y, dates, hgb_raw, scored, scored, k),
        f"window only ({k} day folds): logistic regression": lambda: day_crossfit(
            X, y, dates, lr_raw, scored, scored, k
        ),
        f"all calls ({k} day folds, trains on the future): HGB": lambda: day_crossfit(
            X, y, dates, hgb_raw, everything, scored, k
        ),
        f"all calls ({k} day folds, trains on the future): logistic": lambda: day_crossfit(
            X, y, dates, lr_raw, everything, scored, k
        ),
    }
    results = {}
    for name, run in runs.items():
        if args.only in name:
            started = time.perf_counter()
            results[name] = backtest_metrics(run())
            print(f"  {name}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    results.update({n: m for n, m in feature_rows(X, y, dates, scored).items() if args.only in n})
    if not results:
        parser.error(f"no row's name holds {args.only!r}")
    print_table(f"ceilings of same-day AUC: the calls of {args.start} to {args.end}", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
