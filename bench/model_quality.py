"""Model quality on bank-full: the tutorial's recipe and ours, on the same folds, side by side.

    python bench/model_quality.py [--csv PATH] [--folds 5] [--seed 0]

Prints, for each recipe, the mean (and spread) over stratified folds of ROC AUC, PR AUC,
top-decile lift, Brier score, expected calibration error and fit time; then a time-ordered
backtest (train on the earlier 80% of calls, test on the last 20%). `duration` is never used.

The tutorial's recipe: RandomForest, 100 trees, its 8 client columns (age, job, marital,
education, default, balance, housing, loan), label-encoded.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bank_scoring.evaluate import classification_metrics  # noqa: E402
from bank_scoring.features import feature_frame  # noqa: E402
from bank_scoring.ingest import read_uci_csv  # noqa: E402
from bank_scoring.training import build_pipeline  # noqa: E402

TUTORIAL_COLUMNS = [
    "age",
    "job",
    "marital",
    "education",
    "has_credit_default",
    "balance",
    "has_housing_loan",
    "has_personal_loan",
]


def tutorial_pipeline(seed: int) -> Pipeline:
    cats = ["job", "marital", "education"]
    encode = ColumnTransformer(
        [("labels", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), cats)],
        remainder="passthrough",
    )
    return Pipeline(
        [("encode", encode), ("model", RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=-1))]
    )


RECIPES = {
    "tutorial: RF, 8 client columns": (tutorial_pipeline, lambda f: f[TUTORIAL_COLUMNS]),
    "ours: random_forest, all features": (lambda s: build_pipeline("random_forest", s), lambda f: f),
    "ours: logistic_regression": (lambda s: build_pipeline("logistic_regression", s), lambda f: f),
    "ours: hist_gradient_boosting (default)": (lambda s: build_pipeline("hist_gradient_boosting", s), lambda f: f),
}
METRICS = ["roc_auc", "pr_auc", "lift_top_decile", "brier_score", "expected_calibration_error", "fit_seconds"]


def evaluate(make, select, X, y, train_idx, test_idx, seed) -> dict:
    model = make(seed)
    started = time.perf_counter()
    model.fit(select(X.iloc[train_idx]), y[train_idx])
    fit = time.perf_counter() - started
    metrics = classification_metrics(y[test_idx], model.predict_proba(select(X.iloc[test_idx]))[:, 1])
    return {**metrics, "fit_seconds": fit}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_csv = os.environ.get("BANK_CSV") or str(Path(__file__).resolve().parents[2] / "shared/data/bank-full.csv")
    parser.add_argument("--csv", default=default_csv, help="bank-full.csv (default: $BANK_CSV)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rows = read_uci_csv(args.csv)
    X = feature_frame(rows, rows["contact_month"], rows["contact_day"], rows["contact_year"])
    y = rows["is_subscribed"].astype(int).to_numpy()
    print(
        f"{args.csv}: {len(rows):,} calls, {y.mean():.1%} subscribed; {args.folds}-fold stratified CV, "
        f"seed {args.seed}; duration never used\n"
    )
    folds = list(StratifiedKFold(args.folds, shuffle=True, random_state=args.seed).split(X, y))
    cut = int(len(rows) * 0.8)  # rows are in date order (bank-full)
    ordered = (np.arange(cut), np.arange(cut, len(rows)))

    header = f"{'recipe':<40}" + "".join(f"{m.replace('expected_calibration_error', 'ECE'):>18}" for m in METRICS)
    print("cross-validation (mean ± std over folds)")
    print(header)
    backtests = {}
    for name, (make, select) in RECIPES.items():
        results = pd.DataFrame([evaluate(make, select, X, y, tr, te, args.seed) for tr, te in folds])
        cells = "".join(f"{results[m].mean():>11.4f} ±{results[m].std():.3f}" for m in METRICS)
        print(f"{name:<40}{cells}", flush=True)
        backtests[name] = evaluate(make, select, X, y, *ordered, args.seed)
    print(f"\ntime-ordered backtest: train on the first {cut:,} calls, test on the last {len(rows) - cut:,}")
    print(header)
    for name, m in backtests.items():
        print(f"{name:<40}" + "".join(f"{m[k]:>18.4f}" for k in METRICS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
