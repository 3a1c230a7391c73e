"""Synthetic customers and past calls that follow the UCI Bank Marketing distributions.

For offline demos, tests and scale runs. The marginal frequencies below were measured
on bank-full.csv (45,211 calls); the outcome follows a logistic model whose effects
have the signs and rough sizes seen there (previous success, no housing loan, cellular
contact, students and retirees, the spring and autumn months), with a base rate near
11.7%. The same seed always gives the same rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from bank_scoring.features import MONTHS
from bank_scoring.ingest import RENAMES, UCI_COLUMNS

GENERATOR_VERSION = 1

JOB = {
    "blue-collar": 0.2153,
    "management": 0.2092,
    "technician": 0.168,
    "admin.": 0.1144,
    "services": 0.0919,
    "retired": 0.0501,
    "self-employed": 0.0349,
    "entrepreneur": 0.0329,
    "unemployed": 0.0288,
    "housemaid": 0.0274,
    "student": 0.0207,
    "unknown": 0.0064,
}
MARITAL = {"married": 0.6019, "single": 0.2829, "divorced": 0.1152}
EDUCATION = {"secondary": 0.5132, "tertiary": 0.2942, "primary": 0.1515, "unknown": 0.0411}
CONTACT = {"cellular": 0.6477, "unknown": 0.288, "telephone": 0.0643}
PREVIOUS_OUTCOME_IF_CONTACTED = {"failure": 0.593, "other": 0.223, "success": 0.184}
MONTH_SHARE = {
    "may": 0.3045,
    "jul": 0.1525,
    "aug": 0.1382,
    "jun": 0.1181,
    "nov": 0.0878,
    "apr": 0.0649,
    "feb": 0.0586,
    "jan": 0.031,
    "oct": 0.0163,
    "sep": 0.0128,
    "mar": 0.0106,
    "dec": 0.0047,
}
P_CONTACTED_BEFORE = 0.1826

JOB_EFFECT = {
    "student": 0.7,
    "retired": 0.6,
    "unemployed": 0.2,
    "management": 0.1,
    "blue-collar": -0.35,
    "entrepreneur": -0.2,
    "housemaid": -0.2,
    "services": -0.2,
}
MONTH_EFFECT = {
    "mar": 1.6,
    "sep": 1.3,
    "oct": 1.3,
    "dec": 1.3,
    "apr": 0.3,
    "feb": 0.2,
    "may": -0.5,
    "jul": -0.2,
    "jan": -0.4,
    "nov": -0.2,
}
OUTCOME_EFFECT = {"success": 2.2, "other": 0.3, "failure": 0.0, "unknown": 0.0}
CONTACT_EFFECT = {"unknown": -1.1, "telephone": -0.1, "cellular": 0.0}


def _pick(rng: np.random.Generator, table: dict[str, float], n: int) -> np.ndarray:
    keys = np.array(list(table))
    p = np.array(list(table.values()))
    return keys[rng.choice(len(keys), size=n, p=p / p.sum())]


def outcome_logit(
    job, month, outcome, contact, housing, loan, has_default, balance, campaign, age, marital, education
) -> np.ndarray:
    """Log-odds that a call ends in a subscription: the generator's hidden outcome model.

    ``campaign`` counts this campaign's contacts including the call (the UCI meaning). The
    simulated call centre (bank_scoring/loop/simulate.py) answers its calls with it.
    """
    job, month, outcome, contact = (np.asarray(v, dtype=object) for v in (job, month, outcome, contact))
    housing, loan, has_default = (np.asarray(v, dtype=bool) for v in (housing, loan, has_default))
    balance, campaign, age = (np.asarray(v, dtype=float) for v in (balance, campaign, age))
    marital, education = np.asarray(marital, dtype=object), np.asarray(education, dtype=object)
    return (
        -1.6
        + np.vectorize(JOB_EFFECT.get)(job, 0.0)
        + np.vectorize(MONTH_EFFECT.get)(month, 0.0)
        + np.vectorize(OUTCOME_EFFECT.get)(outcome)
        + np.vectorize(CONTACT_EFFECT.get)(contact)
        - 0.75 * housing
        - 0.45 * loan
        - 0.3 * has_default
        + 0.12 * np.log1p(np.maximum(balance, 0)) / 3
        - 0.09 * (campaign - 1)
        + 0.012 * np.maximum(age - 60, 0)
        + 0.03 * np.maximum(25 - age, 0)
        + np.where(marital == "single", 0.2, 0.0)
        + np.where(education == "tertiary", 0.2, 0.0)
    )


def generate_calls(
    n: int, seed: int = 42, start: dt.date = dt.date(2008, 5, 5), end: dt.date = dt.date(2010, 11, 17)
) -> pd.DataFrame:
    """N synthetic customers, each with one past call, in date order.

    Returns a frame in the same layout as :func:`bank_scoring.ingest.read_uci_csv`.
    """
    if n < 0:
        raise ValueError("the number of customers cannot be negative")
    rng = np.random.default_rng(seed)
    age = np.clip(np.round(rng.lognormal(np.log(39.5), 0.25, n)), 18, 95).astype(np.int64)
    job = _pick(rng, JOB, n)
    job = np.where((age >= 60) & (rng.random(n) < 0.55), "retired", job)
    job = np.where((age <= 24) & (rng.random(n) < 0.35), "student", job)
    marital = _pick(rng, MARITAL, n)
    education = _pick(rng, EDUCATION, n)
    balance = np.round(rng.lognormal(6.2, 1.6, n) - rng.exponential(350, n)).astype(np.int64)
    balance = np.clip(balance, -8_019, 102_127)
    has_default = rng.random(n) < 0.018
    housing = rng.random(n) < np.clip(0.556 + np.where(age > 60, -0.4, 0.0), 0, 1)
    loan = rng.random(n) < 0.16
    contact = _pick(rng, CONTACT, n)
    campaign = np.minimum(rng.geometric(0.45, n) + rng.poisson(0.5, n), 63).astype(np.int64)
    contacted = rng.random(n) < P_CONTACTED_BEFORE
    pdays = np.where(contacted, np.clip(np.round(rng.gamma(2.6, 85, n)), 1, 871), -1).astype(np.int64)
    previous = np.where(contacted, np.minimum(1 + rng.geometric(0.38, n) - 1, 275), 0).astype(np.int64)
    outcome = np.where(contacted, _pick(rng, PREVIOUS_OUTCOME_IF_CONTACTED, n), "unknown")

    span = (end - start).days
    # Calls bunch in May-August as in the real campaigns: draw each call's month by its
    # share, then a day in that month within [start, end], and sort into date order.
    first = np.datetime64(start, "D")
    days = first + np.sort(rng.integers(0, span + 1, n * 3))
    month_no = days.astype("datetime64[M]").astype(np.int64) % 12
    weight = np.array([MONTH_SHARE[m] for m in MONTHS])[month_no]
    weight /= weight.sum()
    dates = np.sort(rng.choice(days, size=n, replace=False, p=weight)) if n else days[:0]
    month_index = dates.astype("datetime64[M]").astype(np.int64) % 12
    month = np.array(MONTHS)[month_index]
    day_of_month = (dates - dates.astype("datetime64[M]")).astype(np.int64) + 1
    years = dates.astype("datetime64[Y]").astype(np.int64) + 1970

    logit = outcome_logit(
        job, month, outcome, contact, housing, loan, has_default, balance, campaign, age, marital, education
    )
    subscribed = rng.random(n) < 1 / (1 + np.exp(-logit))
    duration = np.round(rng.lognormal(5.2, 0.8, n) * np.where(subscribed, 2.2, 1.0)).astype(np.int64)

    frame = pd.DataFrame(
        {
            "age": age,
            "job": job,
            "marital": marital,
            "education": education,
            "has_credit_default": has_default,
            "balance": balance,
            "has_housing_loan": housing,
            "has_personal_loan": loan,
            "contact_channel": contact,
            "contact_day": day_of_month,
            "contact_month": month,
            "duration_seconds": np.minimum(duration, 4918),
            "campaign": campaign,
            "pdays": pdays,
            "previous_contacts": previous,
            "previous_outcome": outcome,
            "is_subscribed": subscribed,
        }
    )
    frame["contact_year"] = pd.array(years, dtype="Int64")
    frame["contact_date"] = dates.astype(object)
    frame["source_line"] = np.arange(2, n + 2, dtype=np.int64)
    return frame


def synthetic_fingerprint(n: int, seed: int) -> str:
    """Identifies a generated batch, so that generating the same batch twice loads it once."""
    return hashlib.sha256(f"synthetic-v{GENERATOR_VERSION}:n={n}:seed={seed}".encode()).hexdigest()


def write_uci_csv(frame: pd.DataFrame, path: Path | str) -> Path:
    """Write a generated frame in the UCI format (';'-separated, quoted strings)."""
    back = {ours: uci for uci, ours in RENAMES.items()}
    out = frame.rename(columns=back)[list(UCI_COLUMNS)].copy()
    for col in ("default", "housing", "loan", "y"):
        out[col] = np.where(out[col], "yes", "no")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, sep=";", index=False, quoting=2)  # csv.QUOTE_NONNUMERIC
    return path
