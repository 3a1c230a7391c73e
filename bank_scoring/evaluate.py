"""Metrics a call-centre manager and a data scientist both read."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score


def lift_at(y_true: np.ndarray, propensity: np.ndarray, fraction: float = 0.1) -> float:
    """How many times the base rate the top ``fraction`` of leads converts.

    Ties are broken by position after a stable sort, so the figure is reproducible.
    """
    y_true = np.asarray(y_true, dtype=float)
    order = np.argsort(-np.asarray(propensity), kind="stable")
    top = max(1, int(round(len(order) * fraction)))
    base = y_true.mean()
    return float(y_true[order[:top]].mean() / base) if base > 0 else float("nan")


def calibration_bins(y_true: np.ndarray, propensity: np.ndarray, bins: int = 10) -> list[tuple[float, float, int]]:
    """(mean predicted, observed rate, calls) for each non-empty equal-width bin of the propensity."""
    y_true = np.asarray(y_true, dtype=float)
    propensity = np.asarray(propensity, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(propensity, edges[1:-1]), 0, bins - 1)
    out = []
    for b in range(bins):
        mask = which == b
        if mask.any():
            out.append((float(propensity[mask].mean()), float(y_true[mask].mean()), int(mask.sum())))
    return out


def expected_calibration_error(y_true: np.ndarray, propensity: np.ndarray, bins: int = 10) -> float:
    """Mean gap between predicted and observed rates over equal-width bins, weighted by size."""
    total = sum(n * abs(predicted - observed) for predicted, observed, n in calibration_bins(y_true, propensity, bins))
    return float(total / len(y_true))


def grouped_auc(y_true, propensity, groups) -> float:
    """ROC AUC counted only over (subscriber, non-subscriber) pairs in the same group.

    With the call date as the group, this is how well a model orders customers called on
    the same day: the nightly list scores every customer with one call date, so effects
    that only move whole days up or down cannot reorder it. Ties count half (the
    Mann-Whitney U of each group, summed, over the pairs of all groups). NaN when no group
    holds both outcomes.
    """
    frame = pd.DataFrame(
        {"y": np.asarray(y_true, dtype=int), "p": np.asarray(propensity, dtype=float), "g": np.asarray(groups)}
    )
    frame = frame[frame["g"].notna()]
    frame["rank"] = frame.groupby("g")["p"].rank(method="average")
    per = frame.groupby("g").agg(n=("y", "size"), pos=("y", "sum"))
    per["rank_pos"] = frame[frame["y"] == 1].groupby("g")["rank"].sum()
    per = per.fillna({"rank_pos": 0.0})
    pairs = per["pos"] * (per["n"] - per["pos"])
    u = per["rank_pos"] - per["pos"] * (per["pos"] + 1) / 2
    total = float(pairs.sum())
    return float(u[pairs > 0].sum() / total) if total > 0 else float("nan")


def grouped_lift(y_true, propensity, groups, fraction: float = 0.1) -> float:
    """Conversion of each group's top ``fraction`` (at least one call per group), pooled,
    over the base rate of all calls: the top-decile lift an agent sees within a day."""
    frame = pd.DataFrame(
        {"y": np.asarray(y_true, dtype=float), "p": np.asarray(propensity, dtype=float), "g": np.asarray(groups)}
    )
    frame = frame[frame["g"].notna()]
    base = frame["y"].mean()
    if not len(frame) or base <= 0:
        return float("nan")
    frame = frame.sort_values(["g", "p"], ascending=[True, False], kind="stable")
    position = frame.groupby("g").cumcount()
    size = frame.groupby("g")["y"].transform("size")
    top = position < np.maximum(1, np.round(size * fraction))
    return float(frame.loc[top, "y"].mean() / base)


def list_metrics(y_true, propensity, call_dates) -> dict[str, float]:
    """The figures that matter to the nightly list: same-day and same-month ranking AUC and
    the within-day top-decile lift (None where the call dates do not allow them)."""
    dates = pd.to_datetime(pd.Series(np.asarray(call_dates)), errors="coerce")
    months = dates.dt.to_period("M").astype(str).where(dates.notna(), None)
    days = dates.dt.strftime("%Y-%m-%d").where(dates.notna(), None)
    figures = {
        "same_day_auc": grouped_auc(y_true, propensity, days),
        "same_month_auc": grouped_auc(y_true, propensity, months),
        "same_day_lift_top_decile": grouped_lift(y_true, propensity, days),
    }
    # None (JSON null) where it cannot be measured: PostgreSQL's jsonb has no NaN.
    out: dict = {k: (None if np.isnan(v) else v) for k, v in figures.items()}
    out["dated_rows"] = int(dates.notna().sum())
    return out


def classification_metrics(y_true, propensity, call_dates=None) -> dict[str, float]:
    """ROC AUC, PR AUC, top-decile lift, Brier score and calibration error on held-out calls;
    with the calls' dates, also the list's figures (``list_metrics``)."""
    y_true = np.asarray(y_true, dtype=int)
    propensity = np.asarray(propensity, dtype=float)
    out = {
        "roc_auc": float(roc_auc_score(y_true, propensity)),
        "pr_auc": float(average_precision_score(y_true, propensity)),
        "lift_top_decile": lift_at(y_true, propensity, 0.1),
        "brier_score": float(brier_score_loss(y_true, propensity)),
        "expected_calibration_error": expected_calibration_error(y_true, propensity),
        "base_rate": float(y_true.mean()),
        "rows": int(len(y_true)),
    }
    if call_dates is not None:
        out.update(list_metrics(y_true, propensity, call_dates))
    return out


def _fast_auc(y_true: np.ndarray, propensity: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula, ties counted half."""
    from scipy.stats import rankdata

    ranks = rankdata(propensity)
    positives = y_true.sum()
    negatives = len(y_true) - positives
    return float((ranks[y_true == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def paired_bootstrap(
    y_true, challenger, champion, resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, float]:
    """Confidence intervals of challenger minus champion on the same held-out calls.

    Both models are scored on the same resampled calls each round (paired), so the
    interval reflects how much the comparison itself could move with another sample of
    calls. Returns the observed differences and the interval bounds for ROC AUC,
    top-decile lift and expected calibration error.
    """
    y = np.asarray(y_true, dtype=int)
    new, old = np.asarray(challenger, dtype=float), np.asarray(champion, dtype=float)
    rng = np.random.default_rng(seed)
    diffs = {"roc_auc": [], "lift_top_decile": [], "expected_calibration_error": []}
    for _ in range(resamples):
        idx = rng.integers(0, len(y), len(y))
        yb = y[idx]
        if yb.min() == yb.max():
            continue
        diffs["roc_auc"].append(_fast_auc(yb, new[idx]) - _fast_auc(yb, old[idx]))
        diffs["lift_top_decile"].append(lift_at(yb, new[idx]) - lift_at(yb, old[idx]))
        diffs["expected_calibration_error"].append(
            expected_calibration_error(yb, new[idx]) - expected_calibration_error(yb, old[idx])
        )
    tail = (1 - level) / 2 * 100
    out: dict[str, float] = {"resamples": float(len(diffs["roc_auc"])), "level": level}
    observed = {
        "roc_auc": _fast_auc(y, new) - _fast_auc(y, old),
        "lift_top_decile": lift_at(y, new) - lift_at(y, old),
        "expected_calibration_error": expected_calibration_error(y, new) - expected_calibration_error(y, old),
    }
    for name, values in diffs.items():
        low, high = np.percentile(values, [tail, 100 - tail])
        out[f"{name}_diff"] = float(observed[name])
        out[f"{name}_low"] = float(low)
        out[f"{name}_high"] = float(high)
    return out


def _day_statistics(y: np.ndarray, p: np.ndarray, day_index: np.ndarray, days: int, bins: int) -> dict:
    """Per day: Mann-Whitney U and pairs, top-decile picks and their subscribers, calls,
    subscribers, and per calibration bin the calls, predicted and observed sums. Any
    resample of whole days is then a weighted sum of these rows."""
    frame = pd.DataFrame({"y": y, "p": p, "d": day_index})
    frame["rank"] = frame.groupby("d")["p"].rank(method="average")
    n = np.bincount(day_index, minlength=days).astype(float)
    pos = np.bincount(day_index, weights=y, minlength=days)
    rank_pos = np.bincount(day_index, weights=frame["rank"].to_numpy() * y, minlength=days)
    frame = frame.sort_values(["d", "p"], ascending=[True, False], kind="stable")
    top = frame.groupby("d").cumcount().to_numpy() < np.maximum(1, np.round(n[frame["d"].to_numpy()] * 0.1))
    top_idx = frame["d"].to_numpy()[top]
    which = np.clip(np.digitize(p, np.linspace(0.0, 1.0, bins + 1)[1:-1]), 0, bins - 1)
    cell = day_index * bins + which
    return {
        "u": rank_pos - pos * (pos + 1) / 2,
        "pairs": pos * (n - pos),
        "top_n": np.bincount(top_idx, minlength=days).astype(float),
        "top_pos": np.bincount(top_idx, weights=frame["y"].to_numpy()[top], minlength=days),
        "n": n,
        "pos": pos,
        "bin_n": np.bincount(cell, minlength=days * bins).reshape(days, bins).astype(float),
        "bin_p": np.bincount(cell, weights=p, minlength=days * bins).reshape(days, bins),
        "bin_y": np.bincount(cell, weights=y, minlength=days * bins).reshape(days, bins),
    }


def _day_figures(stats: dict, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Same-day AUC, within-day lift and calibration error of day-resampled calls (one row of
    ``weights`` per resample: how often each day was drawn)."""

    def total(key):
        return weights @ stats[key]

    base = total("pos") / total("n")
    ece = np.abs(weights @ stats["bin_p"] - weights @ stats["bin_y"]).sum(axis=1) / total("n")
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "same_day_auc": total("u") / total("pairs"),
            "same_day_lift_top_decile": total("top_pos") / total("top_n") / base,
            "expected_calibration_error": ece,
        }


def paired_day_bootstrap(
    y_true, challenger, champion, call_dates, resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, float]:
    """``paired_bootstrap`` for the list's figures: whole call days are resampled.

    Calls made on the same day share that day's circumstances, so they are not
    independent draws; the day is the unit resampled. Both models are judged on the same
    drawn days each round. Returns the observed differences (challenger minus champion)
    and the interval bounds of same-day AUC, within-day top-decile lift and calibration
    error, with the number of days.
    """
    y = np.asarray(y_true, dtype=float)
    codes, uniques = pd.factorize(pd.Series(np.asarray(call_dates)).astype(str))
    days = len(uniques)
    stats = [_day_statistics(y, np.asarray(scores, dtype=float), codes, days, 10) for scores in (challenger, champion)]
    rng = np.random.default_rng(seed)
    drawn = np.stack([np.bincount(rng.integers(0, days, days), minlength=days) for _ in range(resamples)])
    observed = np.ones((1, days))
    tail = (1 - level) / 2 * 100
    out: dict[str, float] = {"resamples": float(resamples), "level": level, "days": float(days)}
    new, old = _day_figures(stats[0], drawn), _day_figures(stats[1], drawn)
    new_all, old_all = _day_figures(stats[0], observed), _day_figures(stats[1], observed)
    for name in new:
        diff = new[name] - old[name]
        low, high = np.nanpercentile(diff, [tail, 100 - tail])
        out[f"{name}_diff"] = float(new_all[name][0] - old_all[name][0])
        out[f"{name}_low"] = float(low)
        out[f"{name}_high"] = float(high)
    return out
