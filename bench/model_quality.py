"""Model quality on bank-full as the nightly list uses it: a rolling-origin backtest of every
candidate, the tutorial's recipe and the previous default, side by side; then stratified CV.

    python bench/model_quality.py [--csv PATH] [--start 2009-01] [--end 2010-11] [--freq M]
                                  [--folds 5] [--seed 0] [--seeds 5] [--skip-cv] [--months]

Rolling origin (the headline): for each period (a month by default) from --start to --end,
each recipe is fitted on every call made before the period and scores the period's calls;
the scores of all periods are pooled. Columns: pooled ROC AUC; same-day AUC (pairs of calls
made on the same day only: what orders tonight's list, where every customer has one call
date); same-month AUC; the within-day top-decile lift; Brier score; expected calibration
error; total fit seconds. Then the default model and gradient boosting at --seeds seeds (one
seed's figures are one draw of the early-stopping split and the pairs), the default's targets
judged on their mean, and with --months its per-month figures. Cross-validation (5 stratified
folds, pooled and same-day AUC) follows, second: it mixes every month into training. `duration` is never used.

The tutorial's recipe: RandomForest, 100 trees, its 8 client columns (age, job, marital,
education, default, balance, housing, loan), label-encoded. "previous default" is the
default model before issue 17: gradient boosting with free interactions of the call date
and the customer, learning rate 0.2, no recalibration.
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
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bank_scoring.constants import CANDIDATES, DEFAULT_ESTIMATOR  # noqa: E402
from bank_scoring.desk.predict import TUTORIAL_FIELDS  # noqa: E402
from bank_scoring.evaluate import classification_metrics  # noqa: E402
from bank_scoring.features import CATEGORICAL, CategoryCodes, ClipCallYear, feature_frame  # noqa: E402
from bank_scoring.ingest import read_uci_csv  # noqa: E402
from bank_scoring.training import build_model, fit_estimator  # noqa: E402
from bank_scoring.training.backtest import backtest_metrics, per_period, rolling_origin  # noqa: E402

TUTORIAL_COLUMNS = list(TUTORIAL_FIELDS.values())  # the tutorial's 8 client columns, our names
# Issue 17's targets for the default model, rolling origin January 2009 to November 2010.
TARGETS = {"same_day_auc": (">=", 0.63), "roc_auc": (">=", 0.77), "expected_calibration_error": ("<=", 0.05)}


class Columns:
    """A recipe that sees only some columns (the tutorial's 8)."""

    def __init__(self, model, columns):
        self.model, self.columns = model, columns

    def fit(self, X, y):
        self.model.fit(X[self.columns], y)
        return self

    def predict_proba(self, X):
        return self.model.predict_proba(X[self.columns])


def tutorial_model(seed: int) -> Columns:
    cats = ["job", "marital", "education"]
    encode = ColumnTransformer(
        [("labels", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), cats)],
        remainder="passthrough",
    )
    forest = RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=-1)
    return Columns(Pipeline([("encode", encode), ("model", forest)]), TUTORIAL_COLUMNS)


def previous_default(seed: int) -> Pipeline:
    """The default before the list's metrics: date and customer effects free to interact."""
    model = HistGradientBoostingClassifier(
        learning_rate=0.2,
        max_iter=300,
        max_leaf_nodes=31,
        min_samples_leaf=40,
        l2_regularization=1.0,
        categorical_features=list(range(len(CATEGORICAL))),
        random_state=seed,
    )
    return Pipeline([("year", ClipCallYear()), ("encode", CategoryCodes(CATEGORICAL)), ("model", model)])


class Auto:
    """What `bank-scoring train` does by default: choose among the candidates, then fit."""

    def __init__(self, seed: int):
        self.seed, self.chosen = seed, []

    def fit(self, X, y):
        algorithm, self.model, _ = fit_estimator("auto", X, y, self.seed)
        self.chosen.append(algorithm)
        return self

    def predict_proba(self, X):
        return self.model.predict_proba(X)


def recipes(seed: int, with_auto: bool = True) -> dict:
    out = {"tutorial: RF, 8 client columns": lambda: tutorial_model(seed)}
    out["previous default (HGB, free date interactions)"] = lambda: previous_default(seed)
    for name in CANDIDATES:
        label = f"ours: {name}" + (" (default)" if name == DEFAULT_ESTIMATOR else "")
        out[label] = lambda name=name: build_model(name, seed)
    if with_auto:
        out["ours: auto (train's default: chosen at each origin)"] = lambda: Auto(seed)
    return out


COLUMNS = [
    ("roc_auc", "pooled AUC"),
    ("same_day_auc", "same-day AUC"),
    ("same_month_auc", "same-month AUC"),
    ("same_day_lift_top_decile", "day lift@10%"),
    ("brier_score", "Brier"),
    ("expected_calibration_error", "ECE"),
    ("fit_seconds", "fit s"),
]


def print_table(title: str, results: dict[str, dict]) -> None:
    print(title)
    width = max(len(name) for name in results) + 2
    print(f"{'recipe':<{width}}" + "".join(f"{label:>16}" for _, label in COLUMNS))
    for name, m in results.items():
        print(f"{name:<{width}}" + "".join(f"{m[key]:>16.4f}" for key, _ in COLUMNS))
    print()


def seed_spread(X, y, dates, args, backtests: dict[str, dict]) -> list[dict]:
    """The default model's and gradient boosting's backtest at ``args.seeds`` seeds (from
    ``args.seed``): a seed moves gradient boosting's early-stopping split and the pairs drawn,
    and one seed's figure is one draw. Prints min, mean and max; returns the default's runs."""
    spread: dict[str, list[dict]] = {}
    for name in dict.fromkeys([DEFAULT_ESTIMATOR, "hist_gradient_boosting"]):
        for seed in range(args.seed, args.seed + args.seeds):
            label = f"ours: {name}" + (" (default)" if name == DEFAULT_ESTIMATOR else "")
            if seed == args.seed and label in backtests:
                spread.setdefault(name, []).append(backtests[label])  # the table's run
                continue
            scores = rolling_origin(
                X, y, dates, lambda n=name, s=seed: build_model(n, s), args.start, args.end, args.freq
            )
            spread.setdefault(name, []).append(backtest_metrics(scores))
            print(f"  {name}, seed {seed}: done", file=sys.stderr, flush=True)
    keys = ("same_day_auc", "roc_auc", "expected_calibration_error")
    print(f"seeds {args.seed} to {args.seed + args.seeds - 1}: min / mean / max")
    print(f"{'model':<26}" + "".join(f"{k:>30}" for k in keys))
    for name, runs in spread.items():
        cells = []
        for key in keys:
            values = np.array([run[key] for run in runs])
            cells.append(f"{values.min():.4f} / {values.mean():.4f} / {values.max():.4f}")
        print(f"{name:<26}" + "".join(f"{c:>30}" for c in cells))
    print()
    return spread[DEFAULT_ESTIMATOR]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_csv = os.environ.get("BANK_CSV") or str(Path(__file__).resolve().parents[2] / "shared/data/bank-full.csv")
    parser.add_argument("--csv", default=default_csv, help="bank-full.csv, in date order (default: $BANK_CSV)")
    parser.add_argument("--start", default="2009-01", help="first period scored (default 2009-01)")
    parser.add_argument("--end", default="2010-11", help="last period scored (default 2010-11)")
    parser.add_argument("--freq", default="M", help="period length, a pandas frequency: M (month), W (week)")
    parser.add_argument("--folds", type=int, default=5, help="stratified CV folds of the second table")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--seeds",
        type=int,
        default=5,
        help="judge the targets on the mean of this many seeds (default 5; 1: --seed only)",
    )
    parser.add_argument("--skip-cv", action="store_true", help="only the rolling-origin backtest")
    parser.add_argument("--months", action="store_true", help="also print the default model's per-period figures")
    args = parser.parse_args()

    rows = read_uci_csv(args.csv)
    if rows["contact_date"].isna().all():
        parser.error(f"{args.csv} has no call dates (a shuffled file): use bank-full.csv, which is in date order")
    X = feature_frame(rows, rows["contact_month"], rows["contact_day"], rows["contact_year"]).reset_index(drop=True)
    y = rows["is_subscribed"].astype(int).to_numpy()
    dates = pd.Series(pd.to_datetime(rows["contact_date"]).to_numpy())
    print(
        f"{args.csv}: {len(rows):,} calls, {y.mean():.1%} subscribed, {dates.min():%Y-%m-%d} to "
        f"{dates.max():%Y-%m-%d}; seed {args.seed}; duration never used\n",
        flush=True,
    )
    backtests, default_scores = {}, None
    chosen: list[str] = []
    for name, make in recipes(args.seed).items():
        started = time.perf_counter()
        if name.startswith("ours: auto"):
            auto = Auto(args.seed)
            make, chosen = (lambda auto=auto: auto), auto.chosen
        scores = rolling_origin(X, y, dates, make, args.start, args.end, args.freq)
        backtests[name] = backtest_metrics(scores)
        print(f"  {name}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        if name.endswith("(default)"):
            default_scores = scores
    scored = backtests[next(iter(backtests))]
    print_table(
        f"rolling origin, {args.freq} periods {args.start} to {args.end}: fit on every earlier call, score the period "
        f"({scored['rows']:,} calls in {scored['periods']} periods)",
        backtests,
    )
    if chosen:
        picks = pd.Series(chosen).value_counts()
        print("auto chose, over the origins: " + ", ".join(f"{n} {c}x" for n, c in picks.items()) + "\n")
    default = next(m for n, m in backtests.items() if n.endswith("(default)"))
    runs = [default]
    if args.seeds > 1:
        runs = seed_spread(X, y, dates, args, backtests)
    verdicts = []
    for key, (op, bound) in TARGETS.items():
        values = np.array([run[key] for run in runs])
        meets = values >= bound if op == ">=" else values <= bound
        mean = float(values.mean())
        ok = mean >= bound if op == ">=" else mean <= bound
        seeds = f" (mean of {len(runs)} seeds; met by {int(meets.sum())})" if len(runs) > 1 else ""
        verdicts.append(f"{key} {mean:.4f} {op} {bound}{seeds}: {'met' if ok else 'NOT met'}")
    print(f"{DEFAULT_ESTIMATOR} against issue 17's targets: " + "; ".join(verdicts) + "\n")
    if args.months and default_scores is not None:
        print("default model per period")
        print(per_period(default_scores).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print()
    if args.skip_cv:
        return 0
    folds = list(StratifiedKFold(args.folds, shuffle=True, random_state=args.seed).split(X, y))
    cv = {}
    for name, make in recipes(args.seed, with_auto=False).items():
        results = []
        for train, test in folds:
            started = time.perf_counter()
            model = make().fit(X.iloc[train], y[train])
            fit = time.perf_counter() - started
            metrics = classification_metrics(y[test], model.predict_proba(X.iloc[test])[:, 1], dates.iloc[test])
            results.append({**metrics, "fit_seconds": fit})
        cv[name] = {key: float(np.mean([r[key] for r in results])) for key, _ in COLUMNS}
    print_table(f"stratified {args.folds}-fold cross-validation (mean over folds; trains on the future)", cv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
