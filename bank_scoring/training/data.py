"""The training rows: past calls with their outcome, the window, the schema check,
the fingerprint that identifies the rows, and the fixed holdout."""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import pandas as pd
from sqlalchemy import Engine, inspect, text

from bank_scoring.features import CUSTOMER_ATTRIBUTES, feature_frame
from bank_scoring.validate import TrainingDataError, check_training_counts, check_training_rows

HOLDOUT_FRACTION = 0.2
# The columns a training row is read with, and fingerprinted on.
TRAINING_COLUMNS = ("contact_id", "contact_date", "contact_month", "contact_day", *CUSTOMER_ATTRIBUTES, "is_subscribed")
# How a harvested row's lead was chosen; read when present, they weigh the row (training_weights).
SELECTION_COLUMNS = ("selection", "selection_probability")


def parse_window_date(name: str, value) -> dt.date | None:
    """A window bound from a date, an ISO string, or nothing (None or '')."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{name} must be a date as YYYY-MM-DD, got {value!r}") from None


def parse_window(window_start, window_end) -> tuple[dt.date | None, dt.date | None]:
    """Both bounds parsed, refused when the window starts after it ends."""
    start = parse_window_date("window_start", window_start)
    end = parse_window_date("window_end", window_end)
    if start and end and start > end:
        raise ValueError(f"training window starts {start} after it ends {end}")
    return start, end


def _window_clause(start: dt.date | None, end: dt.date | None) -> tuple[str, dict]:
    """The training window as a where clause with bound dates ('' for all calls)."""
    clauses, params = [], {}
    if start:
        clauses.append("contact_date >= :start")
        params["start"] = start
    if end:
        clauses.append("contact_date <= :end")
        params["end"] = end
    return (" where " + " and ".join(clauses) if clauses else ""), params


def check_training_schema(engine: Engine) -> None:
    """Refuse a campaign_contacts table that lacks training columns, naming them."""
    present = {c["name"] for c in inspect(engine).get_columns("campaign_contacts")}
    missing = sorted(set(TRAINING_COLUMNS) - present)
    if missing:
        raise TrainingDataError(
            f"campaign_contacts lacks column(s) {', '.join(missing)}; see sql/campaign_contacts.sql"
        )


def check_training_window(engine: Engine, window_start=None, window_end=None) -> dict:
    """Check the window and the rows in it before any training starts.

    Returns the window as ISO dates with the row and positive counts.
    """
    check_training_schema(engine)
    start, end = parse_window(window_start, window_end)
    where, params = _window_clause(start, end)
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "select count(*) as n, sum(case when is_subscribed then 1 else 0 end) as pos "
                f"from campaign_contacts{where}"
            ),
            params,
        ).one()
    rows, positives = int(row.n), int(row.pos or 0)
    try:
        check_training_counts(rows, positives)
    except TrainingDataError as exc:
        window = f" between {start or 'the first call'} and {end or 'the last call'}" if where else ""
        raise TrainingDataError(f"{exc}{window}") from None
    return {
        "window_start": start.isoformat() if start else None,
        "window_end": end.isoformat() if end else None,
        "rows": rows,
        "positives": positives,
    }


def load_training_rows(
    engine: Engine, window_start: dt.date | None = None, window_end: dt.date | None = None
) -> pd.DataFrame:
    """Past calls with their outcome, optionally only those dated within [start, end].

    With a window, calls whose date is unknown (a shuffled sample) cannot be placed in it
    and are left out.
    """
    present = {c["name"] for c in inspect(engine).get_columns("campaign_contacts")}
    columns = ", ".join(TRAINING_COLUMNS + tuple(c for c in SELECTION_COLUMNS if c in present))
    where, params = _window_clause(window_start, window_end)
    with engine.connect() as conn:
        return pd.read_sql_query(
            text(f"select {columns} from campaign_contacts{where} order by contact_id"), conn, params=params
        )


def training_frame(rows: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The model's input columns and the 0/1 outcome of each call; refuses unusable labels."""
    labels = rows["is_subscribed"]
    check_training_rows(labels)
    years = pd.to_datetime(rows["contact_date"], errors="coerce").dt.year.astype("float64")
    X = feature_frame(rows, rows["contact_month"], rows["contact_day"], years)
    return X, labels.astype(bool).astype(int).to_numpy()


# An exploration row weighs at most this many list rows (see training_weights).
EXPLORATION_WEIGHT_CAP = 10.0


def training_weights(rows: pd.DataFrame) -> np.ndarray | None:
    """Each row's weight: 1/selection_probability for a harvested exploration row, capped at
    EXPLORATION_WEIGHT_CAP, 1 for the others, scaled to average 1; None when no row is an
    exploration row (an unweighted fit).

    Inverse probability weighting, truncated: an exploration lead stands for the customers
    below the cut who were not drawn, so the fit sees more of the part of the population the
    list never calls. Uncapped (Horvitz-Thompson), a night's draw of a few dozen among tens
    of thousands weighs each lead in the thousands: in the simulated centre 75 rows carried
    70% of the training weight, the fit swung with which of them fell in gradient boosting's
    validation split, and the ranking of the whole population lost 0.036 of AUC
    (bench/exploration_weights.py, docs/loop.md). Selection depends only on the customer's
    attributes (through the score), so the labels given those attributes are not biased and
    the weights only decide where the fit spends its accuracy; the cap keeps that bounded.
    """
    if "selection" not in rows or "selection_probability" not in rows:
        return None
    explored = (rows["selection"] == "exploration").to_numpy()
    if not explored.any():
        return None
    probability = pd.to_numeric(rows["selection_probability"], errors="coerce").to_numpy(dtype=float)
    bad = explored & ~((probability > 0) & (probability <= 1))
    if bad.any():
        raise TrainingDataError(
            f"{int(bad.sum())} exploration row(s) without a selection probability in (0, 1], e.g. contact_id "
            f"{int(rows['contact_id'].to_numpy()[bad][0])}"
        )
    weights = np.ones(len(rows))
    weights[explored] = np.minimum(1.0 / probability[explored], EXPLORATION_WEIGHT_CAP)
    return weights / weights.mean()


def fingerprint(frame: pd.DataFrame) -> str:
    """sha256 of the training rows (ids, attributes, labels) in id order, and their weights
    when some are weighted (unweighted rows hash as they always did)."""
    ordered = frame.sort_values("contact_id")
    columns = list(TRAINING_COLUMNS)
    weights = training_weights(ordered)
    if weights is not None:
        ordered = ordered.assign(training_weight=np.round(weights, 12))
        columns.append("training_weight")
    hashed = pd.util.hash_pandas_object(ordered[columns].astype(str), index=False)
    return hashlib.sha256(hashed.to_numpy().tobytes()).hexdigest()


def holdout_mask(contact_ids: pd.Series) -> np.ndarray:
    """Which calls are held out: a fixed share chosen by a hash of the call's id.

    Not drawn with the training seed: every model, whatever its seed or estimator, is
    evaluated on calls it never trained on, and a challenger and the champion are
    compared on exactly the same unseen calls (a champion scored on calls it was fitted
    on would look better than it is). New calls join the holdout at the same rate.
    """
    ids = contact_ids.to_numpy(dtype=np.uint64)
    mixed = (ids * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)  # Fibonacci hashing, 24 bits
    return (mixed.astype(np.float64) / float(1 << 24)) < HOLDOUT_FRACTION
