"""The model's input columns: the call's year, the fast category codes, the bundle's column order."""

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import OrdinalEncoder

from bank_scoring.constants import CANDIDATES
from bank_scoring.features import CATEGORICAL, FEATURES, MONTHS, CallClock, CategoryCodes, ClipCallYear, feature_frame
from bank_scoring.generate import generate_calls
from bank_scoring.training import build_bundle, build_pipeline


def calls(n=3000, seed=0):
    rows = generate_calls(n, seed=seed)
    return feature_frame(rows, rows["contact_month"], rows["contact_day"], rows["contact_year"]), rows


def test_category_codes_match_ordinal_encoder_and_unknowns_become_missing():
    X, _ = calls()
    codes = CategoryCodes().fit(X)
    reference = OrdinalEncoder().fit(X[list(CATEGORICAL)])
    got = codes.transform(X)
    np.testing.assert_array_equal(got[:, : len(CATEGORICAL)], reference.transform(X[list(CATEGORICAL)]))
    np.testing.assert_array_equal(got[:, len(CATEGORICAL) :], X[codes.passthrough_].to_numpy(dtype=float))
    odd = X.head(3).copy()
    odd["job"] = ["astronaut", None, odd["job"].iloc[2]]
    out = codes.transform(odd)
    assert np.isnan(out[0, 0]) and np.isnan(out[1, 0])
    assert out[2, 0] == list(codes.categories_["job"]).index(odd["job"].iloc[2])


def test_the_clock_counts_months_and_stops_at_the_latest_training_month():
    X, _ = calls()  # the generator's calls run to November 2010
    clock = CallClock().fit(X)
    may, june = (clock.transform(feature_frame(X.head(1), m, 5, 2009))["contact_year"].iloc[0] for m in ("may", "jun"))
    assert june - may == pytest.approx(1 / 12)
    tonight = feature_frame(X, "feb", 28, 2026)
    assert clock.transform(tonight)["contact_year"].to_numpy() == pytest.approx(2010 + 10 / 12)
    assert (clock.transform(tonight.assign(contact_year=1990.0))["contact_year"] == clock.clock_range_[0]).all()
    blind = CallClock().fit(X.assign(contact_year=np.nan))
    assert (blind.transform(tonight)["contact_year"] == 0.0).all()


def test_a_level_that_moved_within_the_year_is_tonights():
    X, rows = calls(6000)
    clock = X["contact_year"] + X["contact_month"].map({m: i for i, m in enumerate(MONTHS)}) / 12
    latest = (clock >= clock.max() - 1 / 12).to_numpy()  # the last two months: a new regime
    rng = np.random.default_rng(0)
    y = np.where(latest, rng.random(len(X)) < 0.6, rows["is_subscribed"]).astype(int)
    model = build_pipeline("hist_gradient_boosting", seed=0).fit(X, y)
    # the same customers again, in a month after the training calls
    tonight = model.predict_proba(feature_frame(X[latest], "dec", 1, 2026))[:, 1]
    # scored at the new level, not at the year's average of both regimes
    assert y[latest].mean() - 0.1 < tonight.mean() < y[latest].mean() + 0.1
    year = (X["contact_year"] == X["contact_year"].max()).to_numpy()
    assert y[year].mean() < y[latest].mean() - 0.2


def test_versions_trained_before_the_clock_clip_the_year():
    X, _ = calls()
    clip = ClipCallYear().fit(X)
    low, high = X["contact_year"].min(), X["contact_year"].max()
    tonight = feature_frame(X.assign(contact_month="nov"), "nov", 28, 2026)
    assert (clip.transform(tonight)["contact_year"] == high).all()
    assert (clip.transform(tonight.assign(contact_year=1990.0))["contact_year"] == low).all()


@pytest.mark.parametrize("estimator", CANDIDATES)
def test_every_candidate_learns_the_year_and_handles_unknown_years(estimator):
    X, rows = calls(4000)
    # The regime: calls of the last year subscribe far more often (as in bank-full).
    latest = X["contact_year"] == X["contact_year"].max()
    y = np.where(latest, rows["is_subscribed"] | (np.arange(len(X)) % 2 == 0), rows["is_subscribed"]).astype(int)
    model = build_pipeline(estimator, seed=0).fit(X, y)
    tonight = feature_frame(X, "nov", 28, 2026)  # a year after every call: scored as the latest year
    as_latest = feature_frame(X, "nov", 28, int(X["contact_year"].max()))
    as_first = feature_frame(X, "nov", 28, int(X["contact_year"].min()))
    np.testing.assert_allclose(model.predict_proba(tonight)[:, 1], model.predict_proba(as_latest)[:, 1])
    assert model.predict_proba(as_latest)[:, 1].mean() > model.predict_proba(as_first)[:, 1].mean() + 0.05
    # A shuffled file: no year known in training; every candidate still trains and scores.
    unknown = X.assign(contact_year=np.nan)
    blind = build_pipeline(estimator, seed=0).fit(unknown, y)
    p = blind.predict_proba(tonight)[:, 1]
    assert np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()


def test_the_bundle_gives_its_pipeline_the_columns_in_the_fitted_order():
    X, rows = calls()
    bundle = build_bundle(build_pipeline("hist_gradient_boosting", seed=0).fit(X, rows["is_subscribed"].astype(int)), X)
    assert bundle.features == FEATURES
    shuffled = X[list(reversed(X.columns))].assign(extra=1)
    np.testing.assert_array_equal(bundle.predict(shuffled), bundle.pipeline.predict_proba(X)[:, 1])
    assert bundle.predict(X.head(0)).shape == (0,)


def test_unknown_year_is_missing_not_zero():
    X, _ = calls(10)
    assert feature_frame(X, "may", 5, None)["contact_year"].isna().all()
    assert (feature_frame(X, "may", 5, pd.Series([2009] * 10))["contact_year"] == 2009.0).all()


@pytest.mark.parametrize("estimator", CANDIDATES)
def test_categorical_columns_score_exactly_as_text_columns(estimator):
    """The nightly PostgreSQL reader gives categorical columns; every model must see the same input."""
    X, rows = calls(3000)
    model = build_pipeline(estimator, seed=0).fit(X, rows["is_subscribed"].astype(int))
    tonight = rows.head(500).copy()
    tonight.loc[tonight.index[:3], "job"] = ["astronaut", None, "NA"]  # unseen, missing, a value that reads like NA
    text_frame = feature_frame(tonight, "nov", 28, 2026)
    categorical = tonight.astype({c: "category" for c in CATEGORICAL if c in tonight and c != "contact_month"})
    category_frame = feature_frame(categorical, "nov", 28, 2026)
    assert isinstance(category_frame["job"].dtype, pd.CategoricalDtype)  # kept, not turned back into text
    np.testing.assert_array_equal(model.predict_proba(category_frame), model.predict_proba(text_frame))
    if estimator == "hist_gradient_boosting":
        codes = model.named_steps["encode"]
        np.testing.assert_array_equal(codes.transform(category_frame), codes.transform(text_frame))
