"""Gradient boosting on a small history: stopped early against walking every tree.

    BANK_CSV=path/to/bank-full.csv python bench/early_stopping.py [--sizes 200 2000 5000 9000] [--draws 4]

For each size, ``--draws`` random sets of that many bank-full calls fit the default's
gradient boosting (``build_pipeline("hist_gradient_boosting", seed=draw)``) twice: as the
product fits it (``EarlyStoppedBoosting``: early stopping with at least MIN_PER_OUTCOME
calls of each outcome) and with early stopping off (scikit-learn's "auto" below 10,000
calls); each is scored on 15,000 other calls. Prints the means of pooled ROC AUC, log
loss, trees walked and fit seconds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import log_loss, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bank_scoring.features import feature_frame  # noqa: E402
from bank_scoring.ingest import read_uci_csv  # noqa: E402
from bank_scoring.training.estimators import build_pipeline  # noqa: E402

SCORED = 15_000


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=Path, default=os.environ.get("BANK_CSV"), help="bank-full.csv ($BANK_CSV)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 2000, 5000, 9000], help="training calls")
    parser.add_argument("--draws", type=int, default=4, help="random training sets per size")
    args = parser.parse_args(argv)
    if args.csv is None or not Path(args.csv).is_file():
        parser.error("bank-full.csv not found: give --csv or set BANK_CSV")
    rows = read_uci_csv(args.csv)
    X = feature_frame(rows, rows["contact_month"], rows["contact_day"], rows["contact_year"]).reset_index(drop=True)
    y = rows["is_subscribed"].astype(int).to_numpy()
    if max(args.sizes) + SCORED > len(y):
        parser.error(f"--sizes at most {len(y) - SCORED:,} ({len(y):,} calls, {SCORED:,} of them scored)")
    print(f"{'calls':>6} {'fit':<16} {'ROC AUC':>8} {'log loss':>9} {'trees':>6} {'fit s':>6}")
    for n in args.sizes:
        results: dict[str, list] = {"stopped early": [], "every tree": []}
        for draw in range(args.draws):
            order = np.random.default_rng(draw).permutation(len(y))
            fit, scored = order[:n], order[n : n + SCORED]
            for label, stopping in (("stopped early", True), ("every tree", False)):
                model = build_pipeline("hist_gradient_boosting", draw).set_params(model__early_stopping=stopping)
                started = time.perf_counter()
                model.fit(X.iloc[fit], y[fit])
                seconds = time.perf_counter() - started
                p = model.predict_proba(X.iloc[scored])[:, 1]
                trees = model.named_steps["model"].n_iter_
                results[label].append((roc_auc_score(y[scored], p), log_loss(y[scored], p), trees, seconds))
        for label, values in results.items():
            auc, loss, trees, seconds = np.mean(values, axis=0)
            print(f"{n:>6} {label:<16} {auc:>8.4f} {loss:>9.4f} {trees:>6.0f} {seconds:>6.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
