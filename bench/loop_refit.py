"""Each retrain of a finished simulation, refitted and judged on the week it would serve.

    bank-scoring simulate --out var/simulation            # first: a simulated call centre
    python bench/loop_refit.py [--out var/simulation] [--days 35 42 49 56] [--variants default ...]

The simulation's field calibration depends on which retrains the gate promotes; this
separates the model from the gate. For each retrain day D (1-based, as the simulation
prints them) every variant is fitted on the training rows the retrain of day D fitted (calls
dated up to D but the fixed holdout; exploration rows weighted as in training) and scores the answered calls of
the next seven days, with the attributes they were handed out with (the harvested rows).
Per day and variant: the calibration error (ECE) and the mean propensity against the rate
that came true; the weeks after the regime change are where a model must find the new
level, the March days where it must also carry the season.

Variants: ``default`` (the product's model) or an estimator's name, then any of
``+season-apart`` (gradient boosting's call month and day in a group apart from the call
clock, so a month's effect learnt in past years holds at tonight's clock) and
``+no-recalibration`` (the pipeline without the recalibration on the latest calls).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import pandas as pd
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bank_scoring.constants import DEFAULT_ESTIMATOR, ESTIMATORS  # noqa: E402
from bank_scoring.db import make_db_engine  # noqa: E402
from bank_scoring.evaluate import expected_calibration_error  # noqa: E402
from bank_scoring.features import feature_frame  # noqa: E402
from bank_scoring.training.calibration import RecentCalibrated, weight_params  # noqa: E402
from bank_scoring.training.data import holdout_mask, load_training_rows, training_frame, training_weights  # noqa: E402
from bank_scoring.training.estimators import build_pipeline, hgb_interaction_groups  # noqa: E402

MODIFIERS = ("season-apart", "no-recalibration")
# Customer columns; call month and day; the call clock: three groups no tree mixes.
SEASON_APART = hgb_interaction_groups(("contact_month", "contact_day"), ("contact_year",))


def variant(name: str) -> str:
    """A variant: a model (``default`` or an estimator), then modifiers, joined by '+'."""
    model, *modifiers = name.split("+")
    if model not in ("default", *ESTIMATORS) or not set(modifiers) <= set(MODIFIERS):
        raise argparse.ArgumentTypeError(
            f"{name!r}: a model ({', '.join(('default', *ESTIMATORS))}) then any of +{', +'.join(MODIFIERS)}"
        )
    return name


def build(name: str, seed: int):
    model, *modifiers = name.split("+")
    estimator = DEFAULT_ESTIMATOR if model == "default" else model
    pipeline = build_pipeline(estimator, seed)
    if "season-apart" in modifiers:
        trees = pipeline.base if hasattr(pipeline, "base") else pipeline
        trees.named_steps["model"].set_params(interaction_cst=SEASON_APART)
    return pipeline if "no-recalibration" in modifiers else RecentCalibrated(pipeline)


def answered_calls(engine) -> pd.DataFrame:
    """Harvested rows of answered calls: their contact id and call date."""
    with engine.connect() as conn:
        return pd.read_sql_query(
            text(
                "select c.contact_id, c.contact_date from campaign_contacts c "
                "join call_outcomes o on o.call_outcome_id = c.call_outcome_id "
                "where o.outcome in ('subscribed', 'declined')"
            ),
            conn,
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("var/simulation"), help="the simulation's --out folder")
    parser.add_argument("--days", type=int, nargs="+", help="retrain days, 1-based (default: those after the change)")
    parser.add_argument(
        "--variants",
        nargs="+",
        type=variant,
        default=["default"],
        metavar="VARIANT",
        help="models to refit (default: default): default or an estimator, then any of +season-apart, "
        "+no-recalibration (default+season-apart+no-recalibration)",
    )
    parser.add_argument("--seed", type=int, default=42, help="seed of the fits (default 42, the product's)")
    args = parser.parse_args(argv)
    db, described = args.out / "simulation.db", args.out / "config.json"
    if not db.exists() or not described.exists():
        parser.error(f"{args.out} holds no finished simulation (simulation.db and config.json): run simulate first")
    config = json.loads(described.read_text())
    start = dt.date.fromisoformat(config["start"])
    change = config["regime_day"] if config["regime_day"] is not None else config["days"] // 2
    every = config["retrain_every"]
    days = args.days or [d for d in range(every, config["days"], every) if d > change]
    engine = make_db_engine(f"sqlite:///{db}")
    rows = load_training_rows(engine)
    rows["contact_date"] = pd.to_datetime(rows["contact_date"], errors="coerce")
    answered = answered_calls(engine)
    answered["contact_date"] = pd.to_datetime(answered["contact_date"])
    weights = training_weights(rows)
    held = holdout_mask(rows["contact_id"])
    print(f"{len(rows):,} training rows, {len(answered):,} answered calls; regime change on day {change + 1}\n")
    print(f"{'retrain day':>11} {'serves':>23} {'calls':>6} {'came true':>9}  {'variant':<30}{'mean p':>8}{'ECE':>8}")
    for day in days:
        as_of = pd.Timestamp(start + dt.timedelta(days=day - 1))
        dated = (rows["contact_date"] <= as_of).to_numpy() | rows["contact_date"].isna().to_numpy()
        train = dated & ~held  # as the retrain fits: without its fixed holdout
        week = answered[(answered["contact_date"] > as_of) & (answered["contact_date"] <= as_of + pd.Timedelta(days=7))]
        scored = rows[rows["contact_id"].isin(week["contact_id"])]
        if scored.empty:
            continue
        X, y = training_frame(rows[train])
        # the same columns as training_frame, without its minimum of training rows
        X_next = feature_frame(
            scored, scored["contact_month"], scored["contact_day"], scored["contact_date"].dt.year.astype("float64")
        )
        y_next = scored["is_subscribed"].astype(bool).astype(int).to_numpy()
        span = f"{scored['contact_date'].min():%Y-%m-%d} to {scored['contact_date'].max():%m-%d}"
        for name in args.variants:
            model = build(name, args.seed)
            model.fit(X, y, **weight_params(model, None if weights is None else weights[train]))
            p = model.predict_proba(X_next[X.columns])[:, 1]
            ece = expected_calibration_error(y_next, p)
            head = f"{day:>11} {span:>23} {len(y_next):>6} {y_next.mean():>9.3f}"
            print(f"{head}  {name:<30}{p.mean():>8.3f}{ece:>8.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
