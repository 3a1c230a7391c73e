import pandas as pd
import pytest

from bank_scoring.features import CUSTOMER_ATTRIBUTES, LEAKY_COLUMNS, feature_frame
from bank_scoring.validate import TrainingDataError, check_training_rows, customer_reject_reasons

GOOD = {
    "age": 40,
    "job": "technician",
    "marital": "single",
    "education": "tertiary",
    "has_credit_default": False,
    "balance": 1200,
    "has_housing_loan": True,
    "has_personal_loan": False,
    "contact_channel": "cellular",
    "campaign": 1,
    "pdays": -1,
    "previous_contacts": 0,
    "previous_outcome": "unknown",
}


def frame(*changes):
    return pd.DataFrame([{**GOOD, **c} for c in changes])


def test_reasons_are_precise_and_unknown_categories_are_not_a_reason():
    reasons = customer_reject_reasons(
        frame(
            {},
            {"age": None},
            {"age": -1},
            {"age": 250},
            {"job": "astronaut"},
            {"balance": 5e10},
            {"job": None, "campaign": -2},
            {"has_housing_loan": None},
        )
    )
    assert list(reasons) == [
        "",
        "age is missing",
        "age -1 is outside 18..110",
        "age 250 is outside 18..110",
        "",
        "balance 50000000000 is outside -100000000..1000000000",
        "job is missing; campaign -2 is outside 0..1000",
        "has_housing_loan is missing",
    ]


def test_text_in_a_number_column_is_named():
    assert customer_reject_reasons(frame({"age": "abc"})).iloc[0] == "age is not a number: abc"


def test_training_refuses_bad_labels_and_too_few_positives():
    with pytest.raises(TrainingDataError, match="not yes/no"):
        check_training_rows(pd.Series([True] * 300 + ["maybe"]))
    with pytest.raises(TrainingDataError, match="only 10 subscribed calls"):
        check_training_rows(pd.Series([True] * 10 + [False] * 1000))
    with pytest.raises(TrainingDataError, match="only 20 training calls"):
        check_training_rows(pd.Series([True, False] * 10))


def test_post_call_columns_never_reach_the_model():
    rows = frame({}).assign(duration_seconds=900, duration=900, is_subscribed=True, y="yes")
    features = feature_frame(rows, "may", 5, 2026)
    assert not LEAKY_COLUMNS & set(features.columns)
    assert "duration" not in CUSTOMER_ATTRIBUTES


def test_flags_from_postgresql_and_sqlite_mean_the_same():
    pg = feature_frame(frame({"has_housing_loan": True}), "may", 5, 2026)
    lite = feature_frame(frame({"has_housing_loan": 1}), "may", 5, 2026)
    pd.testing.assert_frame_equal(pg, lite)
    assert pg["has_housing_loan"].iloc[0] == 1.0


def test_a_post_call_column_added_to_the_features_is_refused(monkeypatch):
    """The leakage guard: were duration ever added to FEATURES, building features fails."""
    from bank_scoring import features

    monkeypatch.setattr(features, "FEATURES", features.FEATURES + ("duration_seconds",))
    with pytest.raises(ValueError, match="post-call columns may not be features: \\['duration_seconds'\\]"):
        features.feature_frame(frame({}).assign(duration_seconds=100), "may", 5, 2026)
