"""Where the default model's seed spread comes from, on bank-full's rolling origin.

    BANK_CSV=path/to/bank-full.csv python bench/blend_seeds.py [--runs 0:0 1:0 2:0 0:1 0:2]
        [--trees 40] [--draws 15] [--bag 3]

The default (`ranking_blend`) draws on two seeds: gradient boosting's (its early-stopping
split, on training sets over 10,000 calls) and the same-day pairs model's (which pairs
are drawn). `build_model(seed=s)` uses s for both; each run here sets them apart as
``GB:PAIRS`` and prints the rolling-origin figures issue 17 judges (same-day AUC, pooled
AUC, ECE), January 2009 to November 2010 unless told. ``--trees N`` fits gradient boosting
without early stopping, N trees at every origin (no seed left in it); ``--draws N`` has the
pairs model average N draws of pairs instead of its 5; ``--bag K`` averages K gradient
boostings (seeds GB to GB+K-1) in log-odds as the blend's base.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from sklearn.base import BaseEstimator, ClassifierMixin

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bank_scoring.features import feature_frame  # noqa: E402
from bank_scoring.ingest import read_uci_csv  # noqa: E402
from bank_scoring.training.backtest import DEFAULT_END, DEFAULT_START, backtest_metrics, rolling_origin  # noqa: E402
from bank_scoring.training.calibration import RecentCalibrated  # noqa: E402
from bank_scoring.training.estimators import build_model, build_pipeline  # noqa: E402


def seeds(text: str) -> tuple[int, int]:
    try:
        gb, pairs = (int(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give GB:PAIRS seeds, e.g. 0:1") from None
    return gb, pairs


class SeedBag(ClassifierMixin, BaseEstimator):
    """Gradient boosting fitted with each of ``seeds``, log-odds averaged (so the date's
    effect stays additive, as the blend needs)."""

    def __init__(self, seeds: tuple[int, ...] = (0,)):
        self.seeds = seeds

    def fit(self, X, y, sample_weight=None):
        weights = {} if sample_weight is None else {"model__sample_weight": sample_weight}
        self.models_ = [build_pipeline("hist_gradient_boosting", s).fit(X, y, **weights) for s in self.seeds]
        self.classes_ = self.models_[0].classes_
        return self

    def predict_proba(self, X):
        z = np.mean([logit(np.clip(m.predict_proba(X)[:, 1], 1e-12, 1 - 1e-12)) for m in self.models_], axis=0)
        return np.column_stack([1 - expit(z), expit(z)])


def blend(gb_seed: int, pairs_seed: int, trees: int | None, draws: int | None = None, bag: int = 1) -> RecentCalibrated:
    """The default model (build_model's) with its two seeds set apart."""
    model = build_model("ranking_blend", gb_seed)
    model.set_params(estimator__ranker__seed=pairs_seed)
    if trees:
        model.set_params(estimator__base__model__early_stopping=False, estimator__base__model__max_iter=trees)
    if draws is not None:
        model.set_params(estimator__ranker__draws=draws)
    if bag > 1:
        model.set_params(estimator__base=SeedBag(tuple(range(gb_seed, gb_seed + bag))))
    return model


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=Path, default=os.environ.get("BANK_CSV"), help="bank-full.csv ($BANK_CSV)")
    parser.add_argument("--runs", type=seeds, nargs="+", default=[(0, 0), (1, 0), (2, 0), (0, 1), (0, 2)])
    parser.add_argument("--trees", type=int, help="gradient boosting without early stopping, this many trees")
    parser.add_argument("--draws", type=int, help="draws of pairs the pairs model averages (default its own, 5)")
    parser.add_argument("--bag", type=int, default=1, help="gradient boostings averaged as the base (seeds GB..GB+K-1)")
    parser.add_argument("--start", default=DEFAULT_START, help=f"first month scored (default {DEFAULT_START})")
    parser.add_argument("--end", default=DEFAULT_END, help=f"last month scored (default {DEFAULT_END})")
    args = parser.parse_args(argv)
    if args.csv is None or not Path(args.csv).is_file():
        parser.error("bank-full.csv not found: give --csv or set BANK_CSV")
    rows = read_uci_csv(args.csv)
    X = feature_frame(rows, rows["contact_month"], rows["contact_day"], rows["contact_year"]).reset_index(drop=True)
    y = rows["is_subscribed"].astype(int).to_numpy()
    dates = pd.Series(pd.to_datetime(rows["contact_date"]).to_numpy())
    trees = f", {args.trees} trees, no early stopping" if args.trees else ""
    trees += f", {args.draws} draws of pairs" if args.draws else ""
    trees += f", {args.bag} gradient boostings averaged" if args.bag > 1 else ""
    print(f"rolling origin {args.start} to {args.end}{trees}")
    print(f"{'GB seed':>7} {'pairs seed':>10} {'same-day AUC':>13} {'pooled AUC':>11} {'ECE':>7} {'seconds':>8}")
    for gb, pairs in args.runs:
        started = time.perf_counter()
        make = lambda g=gb, p=pairs: blend(g, p, args.trees, args.draws, args.bag)  # noqa: E731
        scores = rolling_origin(X, y, dates, make, args.start, args.end)
        m = backtest_metrics(scores)
        print(
            f"{gb:>7} {pairs:>10} {m['same_day_auc']:>13.4f} {m['roc_auc']:>11.4f} "
            f"{m['expected_calibration_error']:>7.4f} {time.perf_counter() - started:>8.0f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
