"""Drift monitoring: each run's customers against the champion's training data (PSI)."""

import datetime as dt
import logging

import numpy as np
import pandas as pd
from sqlalchemy import text

from bank_scoring import monitor
from bank_scoring.scoring import get_run, score_customers
from bank_scoring.training import train_model

DAY = dt.date(2026, 11, 28)


def test_psi_is_zero_for_the_same_population_and_large_for_a_shifted_one():
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"age": rng.normal(40, 10, 20000)})
    spec = {"kind": "numeric", "edges": monitor._numeric_bins(train["age"].to_numpy())}
    spec["expected"] = monitor._shares(monitor._count(spec, train["age"]))
    same = monitor.psi(spec["expected"], monitor._count(spec, pd.Series(rng.normal(40, 10, 20000))))
    older = monitor.psi(spec["expected"], monitor._count(spec, pd.Series(rng.normal(55, 10, 20000))))
    assert same < 0.01
    assert older > 0.5
    assert monitor.alert({"age": older, "job": 0.01}) == f"drift above 0.2: age {older:.2f}"
    assert monitor.alert({"age": same}) is None


def test_unseen_categories_and_missing_values_have_their_own_bins():
    spec = {"kind": "category", "values": ["a", "b"]}
    assert monitor._count(spec, pd.Series(["a", "b", "b", "zz", None])) == [1, 2, 1, 1]
    # a categorical column (the nightly reader's) counts the same, unused categories included
    values = pd.Series(pd.Categorical(["a", "b", "b", "zz", None], categories=["zz", "b", "a", "unused"]))
    assert monitor._count(spec, values) == [1, 2, 1, 1]


def test_shifted_customers_raise_the_drift_flag(loaded_engine, model_dir, caplog):
    train_model(loaded_engine, model_dir)
    calm = score_customers(loaded_engine, DAY)
    assert calm.drift_alert is None and calm.max_psi < 0.1
    with loaded_engine.begin() as conn:  # the bank acquires an older, richer customer base
        conn.execute(text("update customers set age = age + 25, balance = balance * 10 + 20000"))
    with caplog.at_level(logging.WARNING, logger="bank_scoring.scoring"):
        shifted = score_customers(loaded_engine, DAY + dt.timedelta(days=1))
    assert shifted.status == "published"  # scores still go out; the flag tells the team
    assert shifted.drift_alert.startswith("drift above 0.2: ")
    assert "age" in shifted.drift_alert and "balance" in shifted.drift_alert
    assert shifted.max_psi > 0.2
    assert any("drift above 0.2" in r.getMessage() for r in caplog.records)
    with loaded_engine.connect() as conn:
        stored = dict(
            conn.execute(text("select feature, psi from run_drift where run_id = :r"), {"r": shifted.run_id}).all()
        )
    assert stored["age"] > 0.2 and stored["balance"] > 0.2 and stored["job"] < 0.1
    assert set(stored) == set(monitor.MONITORED) | {"score"}
    assert get_run(loaded_engine, shifted.run_id).drift_alert == shifted.drift_alert


def test_the_contact_history_is_measured_but_never_alerted():
    values = {"campaign": 1.05, "previous_outcome": 0.24, "age": 0.05, "score": 0.08}
    assert monitor.alert(values) is None
    assert monitor.largest(values) == 0.08
    assert monitor.alert({**values, "age": 0.3}) == "drift above 0.2: age 0.30"
    assert monitor.largest({"campaign": 1.0}) is None


def test_a_new_campaign_is_not_drift(loaded_engine, model_dir):
    train_model(loaded_engine, model_dir)
    with loaded_engine.begin() as conn:  # the roll-over: nobody has been called in the new campaign
        conn.execute(text("update customers set campaign = 0"))
    night = score_customers(loaded_engine, DAY)
    with loaded_engine.connect() as conn:
        stored = dict(
            conn.execute(text("select feature, psi from run_drift where run_id = :r"), {"r": night.run_id}).all()
        )
    assert stored["campaign"] > 1.0  # measured and kept
    assert night.drift_alert is None
    assert night.max_psi == max(v for k, v in stored.items() if k not in monitor.CONTACT_HISTORY) < 0.2
