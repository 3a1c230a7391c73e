"""The list's figures: same-day ranking, within-day lift, the day-resampled gate, the
rolling-origin backtest and the recalibration on the latest calls."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from bank_scoring.constants import DEFAULT_ESTIMATOR
from bank_scoring.evaluate import (
    classification_metrics,
    expected_calibration_error,
    grouped_auc,
    grouped_lift,
    paired_day_bootstrap,
)
from bank_scoring.features import MONTHS, feature_frame
from bank_scoring.training import build_pipeline, gate, select_estimator
from bank_scoring.training.backtest import backtest_metrics, per_period, rolling_origin
from bank_scoring.training.calibration import RecentCalibrated, call_days, in_time_scores


@pytest.fixture(scope="module")
def days_of_calls():
    """60 call days whose base rates differ widely, and a customer signal within each day."""
    rng = np.random.default_rng(7)
    n = 6000
    day = rng.integers(0, 60, n)
    day_level = np.linspace(-3.5, 0.5, 60)[day]  # later days convert far better
    customer = rng.normal(0, 1, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(day_level + 0.8 * customer)))).astype(int)
    return y, customer, day_level, day


def test_same_day_auc_counts_only_pairs_within_a_day(days_of_calls):
    y, customer, day_level, day = days_of_calls
    frame = pd.DataFrame({"y": y, "p": customer, "d": day})
    per_day = [
        (roc_auc_score(g.y, g.p), g.y.sum() * (len(g) - g.y.sum())) for _, g in frame.groupby("d") if g.y.nunique() == 2
    ]
    weighted = sum(a * w for a, w in per_day) / sum(w for _, w in per_day)
    assert grouped_auc(y, customer, day) == pytest.approx(weighted, abs=1e-12)
    assert grouped_auc(y, customer, np.zeros(len(y))) == pytest.approx(roc_auc_score(y, customer), abs=1e-12)
    # knowing which days convert better lifts the pooled AUC, and leaves the list's order as it was
    with_days = customer + 3 * day_level
    assert roc_auc_score(y, with_days) > roc_auc_score(y, customer) + 0.1
    assert grouped_auc(y, with_days, day) == pytest.approx(grouped_auc(y, customer, day), abs=1e-12)
    assert grouped_auc(y, day_level, day) == pytest.approx(0.5)  # a day's own level orders nobody


def test_within_day_lift_takes_each_days_top_tenth():
    # two days of 10 calls; the top call of each day subscribed, and 1 more on day b
    y = np.array([1] + [0] * 9 + [1, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    p = np.array([0.9] + [0.1] * 9 + [0.8] + [0.2] * 9)
    days = ["a"] * 10 + ["b"] * 10
    assert grouped_lift(y, p, days) == pytest.approx(1.0 / (3 / 20))
    assert grouped_lift(y, -p, days) == pytest.approx(0.0)


def test_list_metrics_are_none_where_dates_are_unknown(days_of_calls):
    y, customer, _, day = days_of_calls
    undated = classification_metrics(y, 1 / (1 + np.exp(-customer)), [None] * len(y))
    assert undated["same_day_auc"] is None and undated["dated_rows"] == 0
    dated = classification_metrics(
        y, 1 / (1 + np.exp(-customer)), pd.Timestamp("2010-01-01") + pd.to_timedelta(day, "D")
    )
    assert dated["same_day_auc"] == pytest.approx(grouped_auc(y, customer, day))


def test_day_bootstrap_observed_differences_and_intervals(days_of_calls):
    y, customer, day_level, day = days_of_calls
    truth = 1 / (1 + np.exp(-(day_level + 0.8 * customer)))
    noisy = np.clip(truth + np.random.default_rng(1).normal(0, 0.2, len(y)), 0.001, 0.999)
    boot = paired_day_bootstrap(y, truth, noisy, day, resamples=300)
    assert boot["days"] == 60
    assert boot["same_day_auc_diff"] == pytest.approx(grouped_auc(y, truth, day) - grouped_auc(y, noisy, day))
    assert boot["same_day_lift_top_decile_diff"] == pytest.approx(
        grouped_lift(y, truth, day) - grouped_lift(y, noisy, day)
    )
    ece = expected_calibration_error(y, truth) - expected_calibration_error(y, noisy)
    assert boot["expected_calibration_error_diff"] == pytest.approx(ece)
    assert 0 < boot["same_day_auc_low"] <= boot["same_day_auc_diff"] <= boot["same_day_auc_high"]


def test_the_gate_does_not_credit_knowing_better_days_as_better_ranking(days_of_calls):
    """Pooled AUC calls a model that knows which days convert better the better ranker;
    tonight's list would be ordered exactly as before, so the same-day gate does not."""
    y, customer, day_level, day = days_of_calls
    champion = 1 / (1 + np.exp(-(-1.5 + 0.8 * customer)))
    knows_days = 1 / (1 + np.exp(-(day_level + 0.8 * customer)))  # and its percentages come true
    pooled_promotes, pooled_why, _ = gate(y, knows_days, champion)
    assert pooled_promotes and pooled_why.startswith("better: ROC AUC")
    promoted, why, boot = gate(y, knows_days, champion, call_dates=day.astype(str))
    assert boot["same_day_auc_diff"] == pytest.approx(0.0, abs=1e-12)
    assert promoted and why.startswith("better calibrated")  # the level, not the order, is better
    overshoots = 1 / (1 + np.exp(-(2.5 * day_level + 0.8 * customer + 1.5)))  # same order, wrong level
    promoted, why, _ = gate(y, overshoots, champion, call_dates=day.astype(str))
    assert not promoted and why.startswith("not better beyond the noise: same-day AUC +0.0000")


def test_a_better_calibrated_challenger_that_ranks_worse_is_rejected(days_of_calls):
    y, customer, day_level, day = days_of_calls
    truth = 1 / (1 + np.exp(-(day_level + 0.8 * customer)))
    champion = 1 / (1 + np.exp(-(-1.5 + 0.8 * customer)))
    blurred = 1 / (1 + np.exp(-(day_level + 0.3 * customer + np.random.default_rng(2).normal(0, 0.8, len(y)))))
    promoted, why, boot = gate(y, blurred, champion, call_dates=day.astype(str))
    assert boot["same_day_auc_high"] < 0 and not promoted
    assert gate(y, truth, truth, call_dates=day.astype(str))[0] is False  # a twin is never promoted


def _calls(rng, dates, level, jobs=("admin.", "student", "retired")):
    """Calls on ``dates`` with a customer signal on top of each call's ``level`` (log-odds)."""
    dates, n = pd.DatetimeIndex(dates), len(dates)
    rows = pd.DataFrame(
        {
            "job": rng.choice(list(jobs), n) if len(jobs) > 1 else jobs[0],
            "marital": "single",
            "education": "secondary",
            "contact_channel": "cellular",
            "previous_outcome": rng.choice(["unknown", "success"], n, p=[0.9, 0.1]),
            "has_credit_default": False,
            "has_housing_loan": rng.random(n) < 0.5,
            "has_personal_loan": False,
            "age": rng.integers(20, 80, n),
            "balance": rng.normal(1000, 500, n),
            "campaign": rng.integers(1, 5, n),
            "pdays": -1,
            "previous_contacts": 0,
        }
    )
    months = pd.Series([MONTHS[d.month - 1] for d in dates])
    X = feature_frame(rows, months, pd.Series(dates.day), pd.Series(dates.year, dtype=float))
    signal = 1.5 * (rows["previous_outcome"] == "success") - 0.8 * rows["has_housing_loan"]
    y = (rng.random(n) < 1 / (1 + np.exp(-(level + signal)))).astype(int)
    return X, y


def _dated_calls(n=4000, seed=3):
    """Calls over 2009-2010 whose base rate jumps in the last months, with a customer signal."""
    rng = np.random.default_rng(seed)
    dates = pd.Timestamp("2009-01-01") + pd.to_timedelta(np.sort(rng.integers(0, 700, n)), "D")
    X, y = _calls(rng, dates, np.where(dates >= pd.Timestamp("2010-09-01"), 0.5, -2.0))
    return X, y, pd.Series(dates)


def test_rolling_origin_trains_only_on_earlier_calls():
    X, y, dates = _dated_calls()
    seen = []

    class Recorder:
        def fit(self, X_fit, y_fit):
            seen.append(call_days(X_fit).max())
            self.rate = y_fit.mean()
            return self

        def predict_proba(self, X_score):
            seen.append(-call_days(X_score).min())
            return np.column_stack([np.full(len(X_score), 1 - self.rate), np.full(len(X_score), self.rate)])

    scores = rolling_origin(X, y, dates, Recorder, start="2010-01", end="2010-06")
    assert list(scores["period"].unique()) == [f"2010-0{m}" for m in range(1, 7)]
    assert len(scores) == int(((dates >= "2010-01-01") & (dates < "2010-07-01")).sum())
    for trained_until, scored_from in zip(seen[::2], seen[1::2], strict=True):
        assert trained_until < -scored_from  # every call trained on is before every call scored
    table = per_period(scores)
    assert table["calls"].sum() == len(scores) and backtest_metrics(scores)["periods"] == 6


def test_recalibration_brings_probabilities_to_the_latest_level_and_keeps_the_order():
    """Fitted up to October, scored on November (after the training calls, as tonight is):
    the level of the months since the jump, not the average of the past."""
    X, y, dates = _dated_calls()
    past = (dates < pd.Timestamp("2010-11-01")).to_numpy()
    november = (dates >= pd.Timestamp("2010-11-01")).to_numpy()
    plain = build_pipeline("logistic_regression", 0).fit(X[past], y[past])
    recal = RecentCalibrated(build_pipeline("logistic_regression", 0), window_days=60).fit(X[past], y[past])
    observed = y[november].mean()
    recal_gap = abs(recal.predict_proba(X[november])[:, 1].mean() - observed)
    plain_gap = abs(plain.predict_proba(X[november])[:, 1].mean() - observed)
    assert plain_gap > 0.3 and recal_gap < plain_gap / 3
    assert recal.calibration_calls_ >= 500 and recal.calibration_[0] > 0
    same_day = dates.dt.strftime("%Y-%m-%d").to_numpy()
    raw = plain.predict_proba(X)[:, 1]
    assert np.array_equal(raw, recal.estimator_.predict_proba(X)[:, 1])  # the same fitted model underneath
    assert grouped_auc(y, recal.predict_proba(X)[:, 1], same_day) == pytest.approx(grouped_auc(y, raw, same_day))


def test_a_level_the_model_already_learnt_is_not_added_again():
    """A busy centre whose base rate jumped three weeks ago: the pipeline knows the new level
    (its month column), so the correction must be measured by a copy that knows it too, a few
    days back, not by one fitted before the jump (which would add the jump a second time)."""
    rng = np.random.default_rng(11)
    days = pd.date_range("2026-01-05", "2026-02-28")
    dates = pd.Series(np.repeat(days, 400))
    X, y = _calls(rng, dates, np.where(dates >= pd.Timestamp("2026-02-01"), 0.0, -1.5), jobs=("admin.",))
    past, future = (dates < pd.Timestamp("2026-02-25")).to_numpy(), (dates >= pd.Timestamp("2026-02-25")).to_numpy()
    gaps = {}
    for name, settings in {"default": {}, "a month of calls": {"max_calls": 10_000}}.items():
        model = RecentCalibrated(build_pipeline("logistic_regression", 0), **settings).fit(X[past], y[past])
        gaps[name] = model.predict_proba(X[future])[:, 1].mean() - y[future].mean()
    assert model.calibration_calls_ > 5000  # the month's copy was fitted before the jump
    assert abs(gaps["default"]) < 0.05 and gaps["a month of calls"] > 0.15, gaps


def test_undated_calls_are_not_recalibrated():
    X, y, _ = _dated_calls(1500)
    undated = X.assign(contact_year=np.nan)
    model = RecentCalibrated(build_pipeline("logistic_regression", 0)).fit(undated, y)
    assert model.calibration_ == (1.0, 0.0) and model.calibration_calls_ == 0
    assert np.array_equal(model.predict_proba(undated), model.estimator_.predict_proba(undated))


def test_selection_judges_candidates_on_the_latest_calls_by_same_day_ranking():
    X, y, _ = _dated_calls()
    best, table = select_estimator(X, y, seed=0)
    assert table["judged_on"].startswith("same-day AUC on the latest")
    others = {name: row for name, row in table.items() if name not in ("judged_on", DEFAULT_ESTIMATOR)}
    beyond = {name: row["same_day_auc_vs_default_low"] for name, row in others.items()}
    if max(beyond.values()) > 0:
        assert (
            best == max(beyond, key=beyond.get)
            and table[best]["same_day_auc"] > table[DEFAULT_ESTIMATOR]["same_day_auc"]
        )
    else:
        assert best == DEFAULT_ESTIMATOR
    best_undated, table_undated = select_estimator(X.assign(contact_year=np.nan), y, seed=0)
    assert table_undated["judged_on"].startswith("pooled ROC AUC")
    assert best_undated in table_undated


def test_calls_are_scored_as_of_their_day_before_in_and_after_the_latest_period():
    X, y, dates = _dated_calls()
    past = (dates < pd.Timestamp("2010-11-01")).to_numpy()
    model = RecentCalibrated(build_pipeline("logistic_regression", 0), window_days=60).fit(X[past], y[past])
    raw = model.estimator_.predict_proba(X)[:, 1]
    as_of = in_time_scores(model, X)
    older = call_days(X) < model.calibration_from_
    assert older.sum() > 1000 and (past & ~older).sum() >= 500  # the calibration calls are the latest of the past
    assert np.array_equal(as_of[older], raw[older])  # before the latest period: the pipeline's own level
    latest = ~older & past  # the latest period: what the model knew before it, recalibrated
    before_it = model._recalibrate(model.scorer_.predict_proba(X[latest])[:, 1])
    assert np.allclose(as_of[latest], before_it) and not np.allclose(as_of[latest], raw[latest])
    assert np.allclose(as_of[~past], model.predict_proba(X[~past])[:, 1])  # after the training calls: as tonight
