"""Drift monitoring: tonight's customers against the champion's training data.

At training time the model bundle keeps a profile of its training rows: for each customer
feature its bins and the share of rows in each, and a sample of the rows whose scores,
for each night's call date, give the score's bins. Every scoring partition counts its
customers into those bins (a few numpy calls per chunk), publish adds the partitions up
and computes the population stability index (PSI) per feature and for the score:

    PSI = sum over bins of (actual share - expected share) * ln(actual share / expected share)

Rule of thumb used by credit-risk teams: below 0.1 stable, 0.1 to 0.2 worth a look,
above 0.2 the population has moved and the model's probabilities may no longer hold.
The call month and day are left out: every customer of a night has the same ones.

The contact history (``campaign``, ``pdays``, ``previous_contacts``, ``previous_outcome``)
is measured and stored like the rest but raises no alert: the centre's own calls set it
through the campaign roll-over. On the first night of a campaign every customer's
``campaign`` is back to 0, a value no training row has (a row counts its own call), and the
customers the centre never reaches keep it there, so against the training calls its PSI
stays near 1 for the whole campaign; a campaign's calls likewise fill in ``pdays`` and
``previous_outcome``. An alert every night would teach the team to ignore the alert. What
the history does to the model shows in the score's PSI, which alerts, and in the field check.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from bank_scoring.features import BOOLEAN, CUSTOMER_CATEGORICAL, NUMERIC, factorize

DRIFT_THRESHOLD = 0.2
MONITORED = CUSTOMER_CATEGORICAL + BOOLEAN + NUMERIC
CONTACT_HISTORY = ("campaign", "pdays", "previous_contacts", "previous_outcome")  # measured, never alerted
SCORE = "score"
_FLOOR = 1e-4  # an empty bin counts as this share, so PSI stays finite
MISSING, OTHER = "(missing)", "(other)"


def _numeric_bins(values: np.ndarray, bins: int = 10) -> list[float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return []
    return sorted(set(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]).tolist()))


def training_profile(features: pd.DataFrame) -> dict:
    """Bins and expected shares for each monitored feature of the training rows."""
    profile: dict = {}
    for col in MONITORED:
        if col in NUMERIC:
            profile[col] = {"kind": "numeric", "edges": _numeric_bins(features[col].to_numpy(dtype=float))}
        else:
            profile[col] = {"kind": "category", "values": sorted(map(str, features[col].dropna().unique()))}
        profile[col]["expected"] = _shares(_count(profile[col], features[col]))
    return profile


def score_profile(reference_scores: np.ndarray) -> dict:
    """Score bins and shares from the training sample scored for tonight's call date.

    Scoring the training sample with tonight's month and day (not the months it was
    called in) keeps the calendar out of the score's PSI: what is left is the customers.
    """
    spec = {"kind": "numeric", "edges": _numeric_bins(np.asarray(reference_scores, dtype=float))}
    spec["expected"] = _shares(_count(spec, pd.Series(reference_scores)))
    return spec


def _count(spec: dict, values: pd.Series) -> list[int]:
    """Counts per bin: numeric bins then a missing bin; categories then other, missing."""
    if spec["kind"] == "numeric":
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        missing = ~np.isfinite(numbers)
        which = np.searchsorted(np.asarray(spec["edges"], dtype=float), numbers[~missing], side="right")
        counts = np.bincount(which, minlength=len(spec["edges"]) + 1).tolist()
        return counts + [int(missing.sum())]
    known = spec["values"]
    # Factorize, then name each distinct value once: a chunk has a handful of distinct
    # values, and turning every row into text cost more than scoring it.
    codes, distinct = factorize(pd.Series(values))
    per_distinct = np.bincount(codes[codes >= 0], minlength=len(distinct))
    slots = pd.Index(known).get_indexer([str(v) for v in distinct])  # -1 for an unseen category
    counts = np.zeros(len(known), dtype=np.int64)
    np.add.at(counts, slots[slots >= 0], per_distinct[slots >= 0])
    return counts.tolist() + [int(per_distinct[slots < 0].sum()), int((codes < 0).sum())]


def _shares(counts: list[int]) -> list[float]:
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]


def count_chunk(profile: dict, features: pd.DataFrame, scores: np.ndarray) -> dict[str, list[int]]:
    """Bin counts of one chunk of scored customers (profile holds the features and the score)."""
    counts = {col: _count(profile[col], features[col]) for col in MONITORED if col in profile}
    if SCORE in profile:
        counts[SCORE] = _count(profile[SCORE], pd.Series(scores))
    return counts


def add_counts(total: dict[str, list[int]], more: dict[str, list[int]]) -> dict[str, list[int]]:
    for key, values in more.items():
        if key in total:
            total[key] = [a + b for a, b in zip(total[key], values, strict=True)]
        else:
            total[key] = list(values)
    return total


def psi(expected: list[float], actual_counts: list[int]) -> float:
    actual = _shares(actual_counts)
    value = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, _FLOOR), max(a, _FLOOR)
        value += (a - e) * math.log(a / e)
    return value


def drift(profile: dict, counts: dict[str, list[int]]) -> dict[str, float]:
    """PSI per monitored feature and for the score, largest first."""
    values = {name: psi(profile[name]["expected"], c) for name, c in counts.items() if name in profile}
    return dict(sorted(values.items(), key=lambda kv: -kv[1]))


def alerting(values: dict[str, float]) -> dict[str, float]:
    """The PSI values an alert may name: all but the contact history the centre's calls set."""
    return {name: value for name, value in values.items() if name not in CONTACT_HISTORY}


def largest(values: dict[str, float]) -> float | None:
    """The largest PSI an alert may name (the run's ``max_psi``), or None when nothing was measured."""
    found = alerting(values)
    return max(found.values()) if found else None


def alert(values: dict[str, float], threshold: float = DRIFT_THRESHOLD) -> str | None:
    """A one-line alert naming what drifted, or None; the contact history never raises one."""
    over = [f"{name} {value:.2f}" for name, value in alerting(values).items() if value > threshold]
    if not over:
        return None
    return f"drift above {threshold}: " + ", ".join(over)
