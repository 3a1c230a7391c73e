"""How to weigh the exploration slice's training rows, judged against the simulation's truth.

    bank-scoring simulate --out var/simulation            # first: a simulated call centre
    python bench/exploration_weights.py [--out var/simulation] [--seed 0]

A simulation's database holds what the loop harvested: the file's calls, the list's calls
and the exploration leads with their selection probabilities. Each weighting below trains
the default model on those rows, scores every customer for the day after the simulation,
and is judged by the hidden outcome model the simulated customers answered with (known
there, never in a bank):

- *top-day per 100*: expected subscriptions per 100 calls from the model's best customers,
  as many as the centre calls in a day (answer rate included), beside random calling and
  the hidden model's own choice (the ceiling);
- *hidden AUC*: ROC AUC of the scores against outcomes drawn from the hidden probabilities
  (each customer counted as p subscribers and 1 - p non-subscribers);
- *top-decile level*: mean propensity of the model's top decile minus its mean hidden
  probability (how far off the list's percentages are).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bank_scoring.constants import DEFAULT_ESTIMATOR  # noqa: E402
from bank_scoring.db import make_db_engine  # noqa: E402
from bank_scoring.features import counting_the_call, feature_frame, month_name  # noqa: E402
from bank_scoring.loop.simulate import SimulationConfig, World, _customers  # noqa: E402
from bank_scoring.training.data import load_training_rows, training_frame, training_weights  # noqa: E402
from bank_scoring.training.estimators import build_model  # noqa: E402


def clipped(weights: np.ndarray | None, cap: float) -> np.ndarray | None:
    """Inverse-probability weights capped at ``cap`` times the others' weight, mean 1."""
    if weights is None:
        return None
    base = np.min(weights)
    w = np.minimum(weights / base, cap)
    return w / w.mean()


def schemes(rows: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """Name -> (rows kept, their weights)."""
    everything = np.ones(len(rows), dtype=bool)
    explored = (rows.get("selection", pd.Series(index=rows.index, dtype=object)) == "exploration").to_numpy()
    ipw = training_weights(rows)
    return {
        "no exploration rows": (~explored, None),
        "exploration rows, unweighted": (everything, None),
        "inverse probability, capped at 10": (everything, clipped(ipw, 10.0)),
        "inverse probability, capped at 100": (everything, clipped(ipw, 100.0)),
        "inverse probability (1/p, uncapped)": (everything, ipw),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("var/simulation"), help="the simulation's --out folder")
    parser.add_argument("--seed", type=int, default=0, help="seed of the model fits (default 0)")
    args = parser.parse_args()
    db, described = args.out / "simulation.db", args.out / "config.json"
    if not db.exists() or not described.exists():
        parser.error(f"{args.out} holds no finished simulation (simulation.db and config.json): run simulate first")
    settings = json.loads(described.read_text())
    shift = float(settings.pop("world_shift"))
    settings["start"] = pd.Timestamp(settings["start"]).date()
    config = SimulationConfig(**settings)
    engine = make_db_engine(f"sqlite:///{db}")
    rows = load_training_rows(engine)
    customers = _customers(engine)
    day = config.start + pd.Timedelta(days=config.days).to_pytimedelta()
    world = World.__new__(World)
    world.shift, world.config = shift, config
    hidden = world.probability(customers, config.days, day)
    per_day = config.agents * config.calls_per_agent
    k = min(per_day, len(customers))
    X_all = counting_the_call(feature_frame(customers, month_name(day), day.day, float(day.year)))
    explored = int((rows.get("selection") == "exploration").sum()) if "selection" in rows else 0
    print(
        f"{len(rows):,} training rows ({explored:,} exploration); {len(customers):,} customers scored for {day}; "
        f"a day's {k:,} calls\n"
    )
    random_rate = 100 * config.answer_rate * hidden.mean()
    oracle_rate = 100 * config.answer_rate * np.sort(hidden)[::-1][:k].mean()
    head = f"{'weighting':<38}{'top-day per 100':>16}{'hidden AUC':>12}{'top-decile level':>18}"
    print(head)
    y_soft = np.r_[np.ones(len(hidden)), np.zeros(len(hidden))]
    w_soft = np.r_[hidden, 1 - hidden]
    decile = max(1, len(customers) // 10)
    for name, (keep, weights) in schemes(rows).items():
        X, y = training_frame(rows[keep])
        model = build_model(DEFAULT_ESTIMATOR, args.seed).fit(X, y, sample_weight=weights)
        p = model.predict_proba(X_all[X.columns])[:, 1]
        order = np.argsort(-p, kind="stable")
        top = 100 * config.answer_rate * hidden[order[:k]].mean()
        auc = roc_auc_score(y_soft, np.r_[p, p], sample_weight=w_soft)
        level = p[order[:decile]].mean() - hidden[order[:decile]].mean()
        print(f"{name:<38}{top:>16.1f}{auc:>12.4f}{level:>+18.4f}", flush=True)
    print(f"{'random calling':<38}{random_rate:>16.1f}")
    print(f"{'the hidden model itself (ceiling)':<38}{oracle_rate:>16.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
