"""The model of tonight's order: same-day pairs, and the blend that is the default model."""

import numpy as np
import pandas as pd
import pytest

from bank_scoring.constants import DEFAULT_ESTIMATOR
from bank_scoring.evaluate import grouped_auc
from bank_scoring.features import feature_frame
from bank_scoring.generate import generate_calls
from bank_scoring.training import build_model, build_pipeline
from bank_scoring.training.calibration import call_days, recent_mask
from bank_scoring.training.ranking import RankingBlend, SameDayPairs, missing_as_nan, same_day_groups


@pytest.fixture(scope="module")
def confounded_days():
    """4,000 dated calls where the good days are the days the bank called rich customers.

    Within a day only age and a previous success matter; across days the level moves a
    lot, and high balances were called on the good days. A model of the pooled calls
    learns that balance sells; within a day it orders nobody.
    """
    rows = generate_calls(4000, seed=11)
    X = feature_frame(rows, rows["contact_month"], rows["contact_day"], rows["contact_year"]).reset_index(drop=True)
    rng = np.random.default_rng(3)
    days = call_days(X)
    _, day_index = np.unique(days, return_inverse=True)
    level = rng.normal(0, 1.5, day_index.max() + 1)[day_index]
    X["balance"] = np.round(2000 * level + rng.normal(0, 300, len(X)))
    within = 0.06 * (X["age"].to_numpy() - 40) + 2.0 * (X["previous_outcome"].to_numpy() == "success")
    y = (rng.random(len(X)) < 1 / (1 + np.exp(-(level - 1 + within)))).astype(int)
    return X, y, days


def _coefficient(model: SameDayPairs, name: str) -> float:
    names = list(model.encode_.get_feature_names_out())
    return float(model.coef_[names.index(name)])


def test_same_day_pairs_learn_the_order_within_a_day_not_the_days_level(confounded_days):
    X, y, days = confounded_days
    pairs = SameDayPairs(seed=0).fit(X, y)
    pooled = build_pipeline("logistic_regression", 0).fit(X, y)
    pooled_balance = float(
        pooled.named_steps["model"].coef_[0][list(pooled[:-1].get_feature_names_out()).index("balance")]
    )
    # both on standardised balance: the pooled model leans on it, the pairs hardly
    assert pooled_balance > 0.5
    assert abs(_coefficient(pairs, "numbers__balance")) < pooled_balance / 4
    assert _coefficient(pairs, "categories__previous_outcome_success") > 0.5
    assert grouped_auc(y, pairs.predict_proba(X)[:, 1], days) > grouped_auc(y, pooled.predict_proba(X)[:, 1], days)


def test_same_day_pairs_draw_rows_by_their_weight(confounded_days):
    X, y, _ = confounded_days
    success = (X["previous_outcome"] == "success").to_numpy()
    # subscribers with a previous success weighed 0 are never drawn: the factor loses its pull
    unweighted = SameDayPairs(seed=0).fit(X, y)
    weights = np.where(success & (y == 1), 0.0, 1.0)
    weighted = SameDayPairs(seed=0).fit(X, y, sample_weight=weights)
    name = "categories__previous_outcome_success"
    assert _coefficient(weighted, name) < _coefficient(unweighted, name) / 2
    # a day whose subscribers all weigh 0 gives no pairs (not uniform draws among them)
    with pytest.raises(ValueError, match="found 0"):
        SameDayPairs(seed=0).fit(X, y, sample_weight=np.where(y == 1, 0.0, 1.0))


def test_same_day_pairs_need_days_holding_both_outcomes(confounded_days):
    X, y, days = confounded_days
    one_day = days == days[np.argmax(y)]
    with pytest.raises(ValueError, match="at least two call days with both outcomes; found 1"):
        SameDayPairs().fit(X[one_day], y[one_day])
    groups = same_day_groups(days, y)
    assert all(np.all(days[pos] == days[pos[0]]) and np.all(days[neg] == days[pos[0]]) for pos, neg in groups)
    assert sum(len(p) for p, _ in groups) == sum(y[np.isin(days, [days[p[0]] for p, _ in groups])])


def test_blend_orders_a_day_by_both_models_and_keeps_the_dates_whole_level(confounded_days):
    X, y, days = confounded_days
    blend = build_pipeline("ranking_blend", 5).fit(X, y)
    assert isinstance(blend, RankingBlend) and blend.date_additive_
    assert blend.ranker_calls_ == int(recent_mask(days, blend.window_days, blend.min_calls).sum()) < len(y)
    z, base = blend.decision_function(X), blend._base_log_odds(X)
    rank = blend.ranker_.decision_function(X)
    busiest = days == pd.Series(days).mode()[0]
    # within a day: the order of base + 2 * ranker, at a third of its spread
    np.testing.assert_allclose(np.diff(z[busiest]), np.diff(base[busiest] + 2 * rank[busiest]) / 3, atol=1e-9)
    # across days: one customer moves with the date exactly as the base model says
    one = pd.concat([X.iloc[[10]]] * len(X), ignore_index=True)
    one[["contact_month", "contact_day", "contact_year"]] = X[["contact_month", "contact_day", "contact_year"]]
    z_one, base_one = blend.decision_function(one), blend._base_log_odds(one)
    assert np.ptp(base_one) > 0.5  # the base did learn a level per date
    np.testing.assert_allclose(z_one - z_one[0], base_one - base_one[0], atol=1e-9)
    assert z.mean() == pytest.approx(base.mean(), abs=1e-9)  # the training calls' level is the base's
    again = build_pipeline("ranking_blend", 5).fit(X, y)
    assert np.array_equal(again.predict_proba(X), blend.predict_proba(X))  # same seed, same model


def test_blend_of_a_base_that_mixes_date_and_customer_averages_the_log_odds(confounded_days):
    X, y, _ = confounded_days
    blend = build_pipeline("ranking_blend", 5)
    blend.base.set_params(model__interaction_cst=None)  # trees free to mix the call date and the customer
    blend.fit(X, y)
    assert not blend.date_additive_
    rank = blend.ranker_.decision_function(X) - blend.rank_mean_
    np.testing.assert_allclose(blend.decision_function(X), (blend._base_log_odds(X) + 2 * rank) / 3)


def test_blend_of_undated_calls_is_the_base_model(confounded_days):
    X, y, _ = confounded_days
    undated = X.assign(contact_year=np.nan)
    blend = build_pipeline("ranking_blend", 5).fit(undated, y)
    assert blend.ranker_ is None and blend.ranker_calls_ == 0
    assert np.array_equal(blend.predict_proba(undated), blend.base_.predict_proba(undated))


def test_the_default_model_is_the_recalibrated_blend_and_takes_weights(confounded_days):
    X, y, _ = confounded_days
    assert DEFAULT_ESTIMATOR == "ranking_blend"
    weights = np.where(np.arange(len(y)) % 7 == 0, 5.0, 1.0)
    model = build_model(seed=1).fit(X, y, sample_weight=weights)
    assert isinstance(model.estimator_, RankingBlend) and model.estimator_.ranker_ is not None
    plain = build_model(seed=1).fit(X, y)
    assert not np.array_equal(model.predict_proba(X), plain.predict_proba(X))
    p = model.predict_proba(pd.concat([X.head(50)] * 2, ignore_index=True))[:, 1]
    assert np.all((p > 0) & (p < 1)) and np.array_equal(p[:50], p[50:])


def test_the_pairs_score_is_the_encoded_rows_times_the_coefficients(confounded_days):
    X, y, _ = confounded_days
    odd = X.head(400).copy()
    odd.loc[odd.index[::5], "job"] = "astronaut"  # a category never fitted
    odd.loc[odd.index[1::5], "education"] = None  # missing
    odd.loc[odd.index[2::5], "age"] = 101.0  # beyond the spline's knots
    fitted = X.copy()
    fitted.loc[fitted.index[::50], "marital"] = None  # missing seen in training: a category of its own
    pairs = SameDayPairs(seed=0).fit(fitted, y)
    for frame in (odd, odd.assign(**{c: odd[c].astype("category") for c in ("job", "education", "marital")})):
        expected = pairs.encode_.transform(missing_as_nan(frame)) @ pairs.coef_
        assert pairs.decision_function(frame) == pytest.approx(expected, abs=1e-9)
    with_missing = odd.assign(marital=[None, *odd["marital"].iloc[1:]])
    categorical = with_missing.assign(marital=with_missing["marital"].astype("category"))
    nan = pairs.encode_.transform(missing_as_nan(with_missing)) @ pairs.coef_
    assert pairs.decision_function(categorical) == pytest.approx(nan) == pairs.decision_function(with_missing)
    unknown = pairs.encode_.transform(missing_as_nan(with_missing.assign(marital="unmarried"))) @ pairs.coef_
    assert nan[0] != pytest.approx(unknown[0])  # missing has its own weight, an unseen category none


def test_a_customers_score_does_not_depend_on_the_chunk_it_is_scored_in(confounded_days):
    """The night scores customers in chunks and partitions of any size; the same model must give
    each the same propensity to the last bit (a Celery run and a local rerun are compared
    exactly). A matrix product's kernels treat a block's tail rows apart, so the pairs' score
    is summed a column at a time."""
    X, y, _ = confounded_days
    model = build_model(DEFAULT_ESTIMATOR, 0).fit(X, y)
    pairs = model.estimator_.ranker_
    assert pairs is not None  # dated calls: the blend has its pairs model
    whole = model.predict_proba(X)[:, 1]
    # Chunks of one and of seven over the first rows (a call per chunk), of 333 over all.
    for size, rows in ((1, 300), (7, 1400), (333, len(X))):
        parts = np.concatenate([model.predict_proba(X.iloc[i : i + size])[:, 1] for i in range(0, rows, size)])
        assert np.array_equal(parts, whole[: len(parts)]), size
    one_by_one = np.concatenate([pairs.decision_function(X.iloc[[i]]) for i in range(500)])
    assert np.array_equal(one_by_one, pairs.decision_function(X.iloc[:500]))
