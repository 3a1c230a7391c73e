"""Metrics a call-centre manager and a data scientist both read."""

from __future__ import annotations

import numpy as np
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


def classification_metrics(y_true, propensity) -> dict[str, float]:
    """ROC AUC, PR AUC, top-decile lift, Brier score and calibration error on held-out calls."""
    y_true = np.asarray(y_true, dtype=int)
    propensity = np.asarray(propensity, dtype=float)
    return {
        "roc_auc": float(roc_auc_score(y_true, propensity)),
        "pr_auc": float(average_precision_score(y_true, propensity)),
        "lift_top_decile": lift_at(y_true, propensity, 0.1),
        "brier_score": float(brier_score_loss(y_true, propensity)),
        "expected_calibration_error": expected_calibration_error(y_true, propensity),
        "base_rate": float(y_true.mean()),
        "rows": int(len(y_true)),
    }


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
