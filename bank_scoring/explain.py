"""Reason codes: for the customers at the top of a night's list, the three factors that
raised their score most, in words an agent can use on the phone.

For each customer and each factor, the factor is set back to a typical customer's value
(the most common category or the median seen in training, kept in the model bundle) and
the customer is scored again; the drop in propensity is what that factor added. All the
variations of all the customers are scored in one batch: one predict call per night.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bank_scoring.features import BOOLEAN, CATEGORICAL, CUSTOMER_CATEGORICAL, NUMERIC

# Factors about the customer (the call date is the same for everybody tonight, so it
# explains nothing about why one customer ranks above another).
FACTORS = CUSTOMER_CATEGORICAL + BOOLEAN + NUMERIC
# A factor must add at least this much (percentage points / 100) to be named.
MIN_CONTRIBUTION = 0.002

_JOBS = {
    "admin.": "works in administration",
    "blue-collar": "blue-collar worker",
    "entrepreneur": "entrepreneur",
    "housemaid": "housemaid",
    "management": "works in management",
    "retired": "retired",
    "self-employed": "self-employed",
    "services": "works in services",
    "student": "student",
    "technician": "technician",
    "unemployed": "unemployed",
    "unknown": "job not known",
}


def reference_values(features: pd.DataFrame) -> dict:
    """A typical customer: the most common category or the median of each factor."""
    ref = {}
    for col in FACTORS:
        values = features[col].dropna()
        if values.empty:
            continue
        ref[col] = values.mode().iloc[0] if col in CATEGORICAL else float(values.median())
    return ref


def describe(factor: str, value) -> str:
    """A factor's value in an agent's words."""
    if factor == "previous_outcome":
        return {
            "success": "previous campaign succeeded",
            "failure": "took part in the previous campaign",
            "other": "responded to an earlier campaign",
        }.get(value, "not in an earlier campaign")
    if factor == "has_housing_loan":
        return "has a housing loan" if value else "no housing loan"
    if factor == "has_personal_loan":
        return "has a personal loan" if value else "no personal loan"
    if factor == "has_credit_default":
        return "has credit in default" if value else "no credit in default"
    if factor == "contact_channel":
        return {"cellular": "reachable on a mobile", "telephone": "reachable on a landline"}.get(
            value, "phone type not known"
        )
    if factor == "job":
        return _JOBS.get(value, f"works as {value}")
    if factor == "marital":
        return {"single": "single", "married": "married", "divorced": "divorced"}.get(value, "marital status unknown")
    if factor == "education":
        return {
            "tertiary": "university education",
            "secondary": "secondary education",
            "primary": "primary education",
        }.get(value, "education not known")
    if factor == "age":
        return f"aged {int(value)}"
    if factor == "balance":
        return f"account balance {int(value):,}"
    if factor == "campaign":  # the feature counts the call being scored (features.counting_the_call)
        n = int(value) - 1
        return "not yet called in this campaign" if n == 0 else f"called {n} time{'s' if n != 1 else ''} this campaign"
    if factor == "pdays":
        return "never contacted before" if value < 0 else f"last contacted {int(value)} days ago"
    if factor == "previous_contacts":
        n = int(value)
        return f"{n} contact{'s' if n != 1 else ''} before this campaign" if n else "no contacts before this campaign"
    return f"{factor} {value}"


def reason_codes(bundle, features: pd.DataFrame, top: int = 3) -> list[list[str]]:
    """For each row of ``features``, up to ``top`` phrases, strongest first.

    ``bundle`` is a ModelBundle: its ``reference_values`` is the typical customer each
    factor is set back to, and its ``predict`` scores the variations.
    """
    n = len(features)
    if n == 0:
        return []
    reference = bundle.reference_values
    factors = [f for f in FACTORS if f in reference]
    variants = [features]
    for factor in factors:
        changed = features.copy()
        changed[factor] = reference[factor]
        variants.append(changed)
    scores = bundle.predict(pd.concat(variants, ignore_index=True)).reshape(len(variants), n)
    contribution = scores[0][None, :] - scores[1:]  # factors x customers
    # Each factor's values as a plain list: one DataFrame lookup per phrase is slow for a night's top customers.
    values = [features[factor].tolist() for factor in factors]
    out = []
    for i in range(n):
        order = np.argsort(-contribution[:, i], kind="stable")[:top]
        out.append([describe(factors[k], values[k][i]) for k in order if contribution[k, i] >= MIN_CONTRIBUTION])
    return out
