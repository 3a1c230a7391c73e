"""What the model sees: one frame layout for training rows and for customers to score.

Training rows come from ``campaign_contacts`` (attributes as they were at the call), and
customers to score come from ``customers`` (attributes today). Both are turned into the
same columns here, so the saved Pipeline always gets what it was fitted on.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")

CATEGORICAL = ("job", "marital", "education", "contact_channel", "previous_outcome", "contact_month")
BOOLEAN = ("has_credit_default", "has_housing_loan", "has_personal_loan")
NUMERIC = ("age", "balance", "campaign", "pdays", "previous_contacts")
# When the call is made: known before dialling, like the month. Training rows have the
# recorded day and year; tonight's scores use the score date's (agents call on that day).
# The year with the month carries the campaign's regime (the share of calls ending in a
# subscription changes from year to year and within one): the pipeline turns them into
# one clock, clipped to the latest training month (CallClock), so tonight is scored at the
# level of the most recent month the model has seen. Unknown (a shuffled file whose years
# cannot be rebuilt) is missing, which the models handle.
CALL_NUMERIC = ("contact_day", "contact_year")
FEATURES = CATEGORICAL + BOOLEAN + NUMERIC + CALL_NUMERIC
# When the call is made: the same for every customer tonight. Models keep their effect
# additive to the customer's (it sets tonight's level and cannot reorder the list).
CALL_DATE_FEATURES = ("contact_month", *CALL_NUMERIC)

# Known only after the call ends, so a model that decides whom to call must never see it.
LEAKY_COLUMNS = frozenset({"duration", "duration_seconds", "is_subscribed", "y"})

# Customer attributes stored in the database (contact_month and contact_day come from a date).
CUSTOMER_ATTRIBUTES = tuple(c for c in FEATURES if c not in ("contact_month", *CALL_NUMERIC))
# Categorical columns that are customer attributes (the month comes from the date).
CUSTOMER_CATEGORICAL = tuple(c for c in CATEGORICAL if c != "contact_month")


_FLAG_VALUES = {True: 1.0, False: 0.0}  # 1 == True and 0 == False as dict keys


def month_name(day: dt.date) -> str:
    return MONTHS[day.month - 1]


def feature_frame(
    rows: pd.DataFrame,
    contact_month: str | pd.Series,
    contact_day: int | pd.Series,
    contact_year: int | float | pd.Series | None,
) -> pd.DataFrame:
    """Build the model's input columns from customer attribute columns.

    Args:
        rows: frame with the ``CUSTOMER_ATTRIBUTES`` columns (extra columns are ignored).
        contact_month: month of the call: the recorded month for training rows, the
            score date's month for tonight's scoring.
        contact_day: day of the month of the call, likewise.
        contact_year: year of the call, likewise; None (or missing values) when unknown.

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
        elif isinstance(rows[col].dtype, pd.CategoricalDtype):
            out[col] = rows[col]  # the nightly reader's: each distinct value is looked at once downstream
        else:
            out[col] = rows[col].astype("object")
    for col in BOOLEAN:
        # PostgreSQL returns True/False and SQLite 1/0; both map here (True == 1).
        out[col] = rows[col].astype("object").map(_FLAG_VALUES).astype("float64")
    for col in NUMERIC:
        out[col] = pd.to_numeric(rows[col], errors="coerce").astype("float64")
    out["contact_day"] = _call_number(contact_day)
    out["contact_year"] = _call_number(contact_year)
    return out[list(FEATURES)]


def counting_the_call(features: pd.DataFrame) -> pd.DataFrame:
    """A customer's features as the call about to be made: ``campaign`` counts that call.

    ``customers.campaign`` counts the contacts of this campaign made so far; a training row
    counts its own call too (the UCI meaning, "includes last contact", and the harvest's).
    Tonight's score is for the next call, so it is scored as that call's training row will
    read: a customer called twice is scored as the third contact, and one the new campaign
    has not called yet (0 after the roll-over, a value no training row has) as the first.
    """
    return features.assign(campaign=features["campaign"] + 1.0)


def _call_number(value):
    if value is None:
        return np.nan
    if isinstance(value, int | float):
        return float(value)
    return pd.to_numeric(pd.Series(value), errors="coerce").astype("float64").to_numpy()


_MONTH_INDEX = {name: i for i, name in enumerate(MONTHS)}


class CallClock(TransformerMixin, BaseEstimator):
    """The call's year and month as one clock, year + (month - 1) / 12, clipped to the
    training calls' range (first step of every pipeline; it replaces ``contact_year``).

    A base rate that moves within a year (a regime that changes in February) is learnt
    per month, not averaged over the year; tonight, later than every training call, is
    scored at the latest training month's level. Whole months, not days: the latest month
    holds enough calls to set a level, and the recalibration (training/calibration.py)
    measures its correction a few days back, which a finer clock would already have
    learnt and would count twice (bank-full rolling origin, with the recalibration:
    months ECE 0.030 and pooled AUC 0.766, days ECE 0.126 and 0.695; docs/model.md).
    When no training call's year was known (a shuffled file) the column is one constant.
    """

    _RANGE = "clock_range_"  # the fitted attribute holding (lowest, highest)

    def _values(self, X: pd.DataFrame) -> np.ndarray:
        return call_clock(X)

    def fit(self, X: pd.DataFrame, y=None):
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        values = self._values(X)
        known = values[~np.isnan(values)]
        setattr(self, self._RANGE, (float(known.min()), float(known.max())) if len(known) else None)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        if "contact_year" not in X:
            return X
        bounds = getattr(self, self._RANGE)
        if bounds is None:  # no training call's year was known: the column says nothing
            return X.assign(contact_year=0.0)
        return X.assign(contact_year=np.clip(self._values(X), *bounds))

    def get_feature_names_out(self, input_features=None):
        return self.feature_names_in_


def call_clock(X: pd.DataFrame) -> np.ndarray:
    """year + (month - 1) / 12 of each call; NaN where the year or month is unknown."""
    if "contact_year" not in X or "contact_month" not in X:
        return np.full(len(X), np.nan)
    years = pd.to_numeric(X["contact_year"], errors="coerce").to_numpy(dtype=float)
    codes, distinct = factorize(X["contact_month"])  # tonight's chunk: one distinct month
    index = np.array([_MONTH_INDEX.get(m, np.nan) for m in distinct] + [np.nan], dtype=float)
    return years + index[codes] / 12.0  # code -1 (missing) takes the trailing NaN


class ClipCallYear(CallClock):
    """Versions trained before CallClock: the year alone, clipped to the training years.

    Tonight's year is usually later than every training call; a tree would treat it as
    the latest year anyway, a linear model would extrapolate. Clipped, every model scores
    tonight as the most recent year it knows. When no training call's year was known (a
    shuffled file), the column is set to one constant value: ignored, not an error.
    """

    _RANGE = "year_range_"  # the attribute name saved versions carry

    def _values(self, X: pd.DataFrame) -> np.ndarray:
        if "contact_year" not in X:
            return np.full(len(X), np.nan)
        return pd.to_numeric(X["contact_year"], errors="coerce").to_numpy(dtype=float)


class CategoryCodes(TransformerMixin, BaseEstimator):
    """Categories to integer codes (sorted, as OrdinalEncoder does), other columns as they are.

    Gives gradient boosting one float matrix, categorical columns first; an unseen or
    missing category becomes NaN, which the model routes like a missing value. Built on
    pandas' factorize, which looks at each distinct value of a chunk once, where a
    ColumnTransformer with an OrdinalEncoder looks at every row.
    """

    def __init__(self, categorical=CATEGORICAL):
        self.categorical = categorical

    def fit(self, X: pd.DataFrame, y=None):
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.categories_ = {c: pd.Index(sorted(X[c].dropna().unique())) for c in self.categorical}
        self.passthrough_ = [c for c in X.columns if c not in self.categories_]
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        out = np.empty((len(X), len(self.categories_) + len(self.passthrough_)), dtype=np.float64)
        for i, (col, cats) in enumerate(self.categories_.items()):
            # Factorize the chunk (a few distinct values), then look up each distinct value once.
            codes, distinct = factorize(X[col])
            known = cats.get_indexer(distinct).astype(np.float64)
            known[known < 0] = np.nan
            out[:, i] = np.where(codes < 0, np.nan, known[codes] if len(known) else np.nan)
        for j, col in enumerate(self.passthrough_, start=len(self.categories_)):
            out[:, j] = X[col].to_numpy(dtype=np.float64, na_value=np.nan)
        return out

    def get_feature_names_out(self, input_features=None):
        return np.asarray([*self.categories_, *self.passthrough_], dtype=object)


def factorize(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes (-1 for missing) and the distinct values they stand for.

    A categorical column has them already, a text column is hashed once.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy(), values.cat.categories
    codes, distinct = pd.factorize(values, use_na_sentinel=True)
    return codes, pd.Index(distinct)
