"""The field check: a calibrated model passes, a model off by 3x is flagged, a rerun replaces."""

from __future__ import annotations

import json

import numpy as np
from sqlalchemy import text
from support import DAY, at

from bank_scoring.agents.figures import day_figures, format_figures
from bank_scoring.loop.field import field_check, measure
from bank_scoring.scoring import latest_published_run

from .test_harvest import customers, one, rows
from .test_loop_cli import run

BANDS = ("A", "B", "C")


def record_day(engine, factor: float, n: int = 600, seed: int = 7) -> None:
    """``n`` reached calls on DAY: outcomes drawn from the true rates, propensities = rate / factor."""
    rng = np.random.default_rng(seed)
    ids = customers(engine, n)
    truth = rng.uniform(0.05, 0.3, size=len(ids))
    won = rng.random(len(ids)) < truth
    with engine.begin() as conn:
        for i, (customer, q, sold) in enumerate(zip(ids, truth, won, strict=True)):
            conn.execute(
                text(
                    "insert into call_outcomes (customer_id, score_date, agent_id, outcome, called_at, band, "
                    "propensity) values (:c, :d, 'ana', :o, :t, :b, :p)"
                ),
                {
                    "c": customer,
                    "d": DAY,
                    "o": "subscribed" if sold else "declined",
                    "t": at(9 + i % 8, i % 60),
                    "b": BANDS[i % 3],
                    "p": float(q / factor),
                },
            )
        # A call not made from a handed-out lead (no propensity) says nothing about the model.
        conn.execute(
            text(
                "insert into call_outcomes (customer_id, score_date, agent_id, outcome, called_at) "
                "values (:c, :d, 'tess', 'subscribed', :t)"
            ),
            {"c": ids[1], "d": DAY, "t": at(12, 30)},
        )
        # Unreached calls are no evidence either way: they must not count.
        conn.execute(
            text(
                "insert into call_outcomes (customer_id, score_date, agent_id, outcome, called_at, band, propensity) "
                "values (:c, :d, 'ben', 'no_answer', :t, 'A', 0.9)"
            ),
            {"c": ids[0], "d": DAY, "t": at(12)},
        )


def test_a_calibrated_model_is_not_flagged(night):
    record_day(night, factor=1.0)
    found = field_check(night, DAY)
    assert found.alert is None and not found.off
    assert [r.band for r in found.bands] == list(BANDS)
    assert found.total.calls == 600
    assert sum(r.actual for r in found.bands) == found.total.actual
    assert abs(found.total.expected - sum(r.expected for r in found.bands)) < 1e-6
    for r in (*found.bands, found.total):
        assert r.expected_low <= r.actual <= r.expected_high and not r.off
    # A Bonferroni z over four rows, wider than 1.96.
    assert 2.4 < found.total.z < 2.6
    run_ = latest_published_run(night, DAY)
    assert found.run_id == run_.run_id
    assert one(night, "select field_alert from scoring_runs where run_id = :r", r=run_.run_id) is None
    assert one(night, "select count(*) from field_checks where check_day = :d", d=DAY) == 4


def test_a_model_off_by_three_is_flagged_on_the_run_and_in_the_figures(night):
    record_day(night, factor=3.0)
    found = field_check(night, DAY)
    assert found.off and found.total.off
    assert found.total.actual > found.total.expected_high
    assert all(r.off for r in found.bands)
    assert "model off in the field" in found.alert
    alert = one(night, "select field_alert from scoring_runs where run_id = :r", r=found.run_id)
    assert alert == found.alert
    figures = day_figures(night, DAY)
    assert [r["band"] for r in figures["field_check"]] == [*BANDS, "all"]
    assert all(r["is_off"] for r in figures["field_check"])
    assert "field check: OFF in A" in format_figures(figures)


def test_a_rerun_replaces_the_day_and_clears_the_alert(night):
    record_day(night, factor=3.0)
    first = field_check(night, DAY)
    assert first.off
    assert field_check(night, DAY) == first  # same rows, same alert, no duplicates
    assert one(night, "select count(*) from field_checks where check_day = :d", d=DAY) == 4
    # The calls turn out to be calibrated after all (propensities corrected): the rerun clears.
    with night.begin() as conn:
        conn.execute(text("update call_outcomes set propensity = propensity * 3 where outcome <> 'no_answer'"))
    second = field_check(night, DAY)
    assert not second.off
    assert one(night, "select count(*) from field_checks where check_day = :d", d=DAY) == 4
    assert one(night, "select field_alert from scoring_runs where run_id = :r", r=second.run_id) is None
    stored = rows(night, "select band, actual, is_off from field_checks where check_day = :d order by band", d=DAY)
    assert not any(r["is_off"] for r in stored)


def test_few_calls_are_never_flagged(night):
    ids = customers(night, 5)
    with night.begin() as conn:
        for c in ids:
            conn.execute(
                text(
                    "insert into call_outcomes (customer_id, score_date, agent_id, outcome, called_at, band, "
                    "propensity) values (:c, :d, 'ana', 'subscribed', :t, 'A', 0.01)"
                ),
                {"c": c, "d": DAY, "t": at(10)},
            )
    found = measure(night, DAY)
    assert found.total.calls == 5 and found.total.actual == 5 and not found.off


def test_field_check_command(night, night_url):
    record_day(night, factor=3.0, n=120)
    done = run(night_url, "field-check", "--date", DAY.isoformat(), "--json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)["field_check"]
    assert payload["off"] and payload["day"] == DAY.isoformat()
    text_ = run(night_url, "field-check", "--date", DAY.isoformat())
    assert text_.returncode == 0 and "ALERT: model off in the field" in text_.stdout
    empty = run(night_url, "field-check", "--date", "2026-11-20")
    assert empty.returncode == 0 and "(no reached calls)" in empty.stdout
