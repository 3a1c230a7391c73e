"""What the model sees: one frame layout for training rows and for customers to score.

Training rows come from ``campaign_contacts`` (attributes as they were at the call), and
customers to score come from ``customers`` (attributes today). Both are turned into the
same columns here, so the saved Pipeline always gets what it was fitted on.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")

CATEGORICAL = ("job", "marital", "education", "contact_channel", "previous_outcome", "contact_month")
BOOLEAN = ("has_credit_default", "has_housing_loan", "has_personal_loan")
NUMERIC = ("age", "balance", "campaign", "pdays", "previous_contacts")
# When the call is made: known before dialling, like the month. Training rows have the
# recorded day; tonight's scores use the score date's day (agents call on that day).
CALL_NUMERIC = ("contact_day",)
FEATURES = CATEGORICAL + BOOLEAN + NUMERIC + CALL_NUMERIC

# Known only after the call ends, so a model that decides whom to call must never see it.
LEAKY_COLUMNS = frozenset({"duration", "duration_seconds", "is_subscribed", "y"})

# Customer attributes stored in the database (contact_month and contact_day come from a date).
CUSTOMER_ATTRIBUTES = tuple(c for c in FEATURES if c not in ("contact_month", *CALL_NUMERIC))


_FLAG_VALUES = {True: 1.0, False: 0.0}  # 1 == True and 0 == False as dict keys


def month_name(day: dt.date) -> str:
    return MONTHS[day.month - 1]


def feature_frame(rows: pd.DataFrame, contact_month: str | pd.Series, contact_day: int | pd.Series) -> pd.DataFrame:
    """Build the model's input columns from customer attribute columns.

    Args:
        rows: frame with the ``CUSTOMER_ATTRIBUTES`` columns (extra columns are ignored).
        contact_month: month of the call: the recorded month for training rows, the
            score date's month for tonight's scoring.
        contact_day: day of the month of the call, likewise.

    Returns:
        A frame with exactly ``FEATURES``, categoricals as strings, flags as 0/1 floats.
    """
    leaked = LEAKY_COLUMNS.intersection(FEATURES)
    if leaked:  # guards a future edit of FEATURES
        raise ValueError(f"post-call columns may not be features: {sorted(leaked)}")
    out = pd.DataFrame(index=rows.index)
    for col in CATEGORICAL:
        if col == "contact_month":
            out[col] = contact_month if isinstance(contact_month, str) else contact_month.values
        else:
            out[col] = rows[col].astype("object")
    for col in BOOLEAN:
        # PostgreSQL returns True/False and SQLite 1/0; both map here (True == 1).
        out[col] = rows[col].astype("object").map(_FLAG_VALUES).astype("float64")
    for col in NUMERIC:
        out[col] = pd.to_numeric(rows[col], errors="coerce").astype("float64")
    out["contact_day"] = (float(contact_day) if isinstance(contact_day, int | float)
                          else pd.to_numeric(contact_day, errors="coerce").astype("float64").values)
    return out[list(FEATURES)]
