"""Reason codes: the named factors are the ones that really raised the score."""

import numpy as np

from bank_scoring.explain import FACTORS, describe, reason_codes, reference_values
from bank_scoring.features import feature_frame
from bank_scoring.generate import generate_calls
from bank_scoring.training import build_bundle, build_pipeline


def test_the_first_reason_is_the_factor_that_adds_most():
    calls = generate_calls(4000, seed=5)
    X = feature_frame(calls, calls["contact_month"], calls["contact_day"], calls["contact_year"])
    model = build_pipeline().fit(X, calls["is_subscribed"].astype(int))
    bundle = build_bundle(model, X)
    reference = reference_values(X)
    assert bundle.reference_values == reference and set(reference) == set(FACTORS)
    top = X.iloc[np.argsort(-model.predict_proba(X)[:, 1])[:20]].reset_index(drop=True)
    reasons = reason_codes(bundle, top)
    assert reason_codes(bundle, top.head(0)) == []
    base = model.predict_proba(top)[:, 1]
    for i, why in enumerate(reasons):
        assert 1 <= len(why) <= 3
        gains = {}
        for factor in FACTORS:
            changed = top.iloc[[i]].copy()
            changed[factor] = reference[factor]
            gains[describe(factor, top[factor].iloc[i])] = base[i] - model.predict_proba(changed)[0, 1]
        best = max(gains, key=gains.get)
        assert why[0] == best
        assert all(gains[r] > 0 for r in why)


def test_phrases_an_agent_can_say():
    assert describe("previous_outcome", "success") == "previous campaign succeeded"
    assert describe("has_housing_loan", 0.0) == "no housing loan"
    assert describe("pdays", -1) == "never contacted before"
    # the feature counts the call being scored: 1 is the first call, 3 follows two
    assert describe("campaign", 1) == "not yet called in this campaign"
    assert describe("campaign", 3) == "called 2 times this campaign"
    assert describe("job", "admin.") == "works in administration"
    assert describe("balance", 1234.0) == "account balance 1,234"
