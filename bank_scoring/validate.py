"""Rules a row must pass to be used, with reasons a person can act on.

Two uses: ``load-csv`` refuses a file whose values break the rules (naming line and
field), and the nightly run turns each customer that breaks them into a
``scoring_rejects`` row instead of dropping it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bank_scoring.features import BOOLEAN, CUSTOMER_CATEGORICAL, NUMERIC

# Inclusive ranges; outside them a value is more likely an entry error than a customer.
RANGES: dict[str, tuple[float, float]] = {
    "age": (18, 110),
    "balance": (-100_000_000, 1_000_000_000),
    "campaign": (0, 1_000),
    "pdays": (-1, 10_000),
    "previous_contacts": (0, 10_000),
}

MIN_TRAINING_ROWS = 200
MIN_TRAINING_POSITIVES = 50


class TrainingDataError(ValueError):
    """The training rows cannot give a trustworthy model; the champion stays."""


def customer_reject_reasons(rows: pd.DataFrame) -> pd.Series:
    """One reason string per row ('' when the row can be scored).

    Unknown categories are not a reason: the model treats them as unseen and scores them.
    """
    reasons = pd.Series("", index=rows.index, dtype="object")

    def add(mask: pd.Series, message) -> None:
        # Messages are built only for the rows that need one: most nights no row does.
        if not mask.any():
            return
        msgs = message(mask) if callable(message) else pd.Series(message, index=rows.index[mask])
        current = reasons[mask]
        reasons.loc[mask] = current + np.where(current == "", "", "; ") + msgs

    for col in CUSTOMER_CATEGORICAL:
        values = rows[col]
        missing = values.isna()
        present = values[~missing]
        if len(present) and not pd.api.types.is_numeric_dtype(present.dtype):
            # A few distinct values per column: look at each once, not at every row.
            blanks = [v for v in pd.unique(present) if str(v).strip() == ""]
            if blanks:
                missing |= values.isin(blanks)
        add(missing, f"{col} is missing")
    for col in BOOLEAN:
        add(rows[col].isna(), f"{col} is missing")
    for col in NUMERIC:
        raw = rows[col]
        numeric = pd.api.types.is_numeric_dtype(raw.dtype)
        values = raw if numeric else pd.to_numeric(raw, errors="coerce")
        add(raw.isna(), f"{col} is missing")
        if not numeric:
            add(
                raw.notna() & values.isna(), lambda m, raw=raw, col=col: col + " is not a number: " + raw[m].astype(str)
            )
        low, high = RANGES[col]
        outside = values.notna() & ((values < low) | (values > high))
        add(
            outside,
            lambda m, values=values, col=col, low=low, high=high: (
                col + " " + values[m].astype(str).str.removesuffix(".0") + f" is outside {low}..{high}"
            ),
        )
    return reasons


def check_training_rows(
    labels: pd.Series, min_rows: int = MIN_TRAINING_ROWS, min_positives: int = MIN_TRAINING_POSITIVES
) -> None:
    """Refuse training data that cannot give a model worth promoting."""
    bad = ~labels.isin([True, False, 0, 1])
    if bad.any():
        examples = sorted({str(v) for v in labels[bad].head(5)})
        raise TrainingDataError(f"{int(bad.sum())} outcome labels are not yes/no, e.g. {examples}")
    check_training_counts(len(labels), int(labels.astype(bool).sum()), min_rows, min_positives)


def check_training_counts(
    rows: int, positives: int, min_rows: int = MIN_TRAINING_ROWS, min_positives: int = MIN_TRAINING_POSITIVES
) -> None:
    if rows < min_rows:
        raise TrainingDataError(f"only {rows} training calls; at least {min_rows} are needed")
    if positives < min_positives:
        raise TrainingDataError(
            f"only {positives} subscribed calls among {rows}; at least {min_positives} are needed "
            "to train and evaluate a model"
        )
    if rows - positives < min_positives:
        raise TrainingDataError(f"only {rows - positives} calls without a subscription among {rows}")
