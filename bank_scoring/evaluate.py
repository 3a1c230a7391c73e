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


def expected_calibration_error(y_true: np.ndarray, propensity: np.ndarray, bins: int = 10) -> float:
    """Mean gap between predicted and observed rates over equal-width bins, weighted by size."""
    y_true = np.asarray(y_true, dtype=float)
    propensity = np.asarray(propensity, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(propensity, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.sum() * abs(propensity[mask].mean() - y_true[mask].mean())
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
