"""The control group and the exploration slice (issue 19, item 3), on both databases."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text
from support import DAY, at

from bank_scoring.agents import pool
from bank_scoring.agents.claims import next_lead, record_outcome, release
from bank_scoring.config import load_settings, selection_shares
from bank_scoring.db import HARVEST_ID_BASE
from bank_scoring.loop import control
from bank_scoring.loop.harvest import harvest_calls
from bank_scoring.training import data as training_data
from bank_scoring.validate import TrainingDataError


def rows(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).mappings().all()


def one(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def run_of(engine) -> int:
    return one(engine, "select run_id from scoring_runs where status = 'published' order by run_id desc limit 1")


def assignments(engine, run_id, role):
    return rows(
        engine,
        "select customer_id, score_rank, pool_rank, selection_probability from lead_assignments "
        "where run_id = :r and role = :role order by customer_id",
        r=run_id,
        role=role,
    )


def test_shares_are_read_and_checked():
    assert selection_shares({}) == (0.05, 0.02)
    assert selection_shares({"BANK_SCORING_CONTROL_SHARE": "0.1", "BANK_SCORING_EXPLORATION_SHARE": "0"}) == (0.1, 0.0)
    settings = load_settings({"BANK_SCORING_CONTROL_SHARE": "0.07"})
    assert (settings.control_share, settings.exploration_share) == (0.07, 0.02)
    for bad in ("-0.1", "0.9", "five"):
        with pytest.raises(ValueError, match="BANK_SCORING_CONTROL_SHARE"):
            selection_shares({"BANK_SCORING_CONTROL_SHARE": bad})


def test_control_group_is_a_stable_share_of_the_customers():
    ids = np.arange(1, 5001)
    mask = control.control_mask(ids, 0.05)
    assert 0.04 <= mask.mean() <= 0.06
    assert (control.control_mask(ids[::-1], 0.05) == mask[::-1]).all()  # a function of the id alone
    assert (mask <= control.control_mask(ids, 0.10)).all()  # a larger share keeps the same customers in
    assert not (mask == control.control_mask(ids, 0.05, salt="another salt")).all()


def test_even_slots_spread_over_the_list():
    assert control.even_slots(list(range(1, 101)), 3, 100) == [25, 50, 75]
    assert control.even_slots([3, 40, 90], 5, 100) == [3, 40, 90]  # no more than the free places


def test_control_customers_are_never_handed_out_even_the_best(night):
    run_id = run_of(night)
    pool.refill(night, run_id, at(8), control_share=0.5, exploration_share=0.0)
    kept = assignments(night, run_id, "control")
    eligible = len(kept) + one(night, "select count(*) from lead_pool")
    assert 0.45 <= len(kept) / eligible <= 0.55
    best = min(kept, key=lambda r: r["score_rank"])
    assert best["score_rank"] <= 10  # half the customers are control: one of the first ten (all but 1 in 1,024)
    assert one(night, "select count(*) from lead_pool where customer_id = :c", c=best["customer_id"]) == 0
    # Even when a control customer gets into the pool at the top, or waits as a returning
    # lead, the claims pass it by.
    second = sorted(kept, key=lambda r: r["score_rank"])[1]
    with night.begin() as conn:
        conn.execute(
            text(
                "insert into lead_pool (run_id, score_date, rank, customer_id, band, propensity) "
                "select run_id, score_date, 0, customer_id, band, propensity from customer_scores "
                "where run_id = :r and customer_id = :c"
            ),
            {"r": run_id, "c": best["customer_id"]},
        )
        conn.execute(
            text("insert into contact_state (customer_id, returns_at) values (:c, :t)"),
            {"c": second["customer_id"], "t": at(8)},
        )
    controls = {r["customer_id"] for r in kept}
    handed = []
    for i in range(12):
        lead = next_lead(night, "ana", at(10, i))
        handed.append(lead.customer_id)
        record_outcome(night, "ana", lead.customer_id, "declined", at(10, i))
    assert not controls & set(handed)
    assert len(set(handed)) == 12


def test_shares_close_to_configured_and_reproducible(night):
    run_id = run_of(night)
    pool.refill(night, run_id, at(8))  # the defaults: 5% control, 2% exploration
    kept = assignments(night, run_id, "control")
    explored = assignments(night, run_id, "exploration")
    pooled = one(night, "select count(*) from lead_pool")
    assert pooled + len(kept) > 2500
    assert 0.035 <= len(kept) / (pooled + len(kept)) <= 0.065
    in_list = one(
        night,
        "select count(*) from lead_pool as p where p.band = 'A' and not exists (select 1 from lead_assignments "
        "as a where a.run_id = p.run_id and a.customer_id = p.customer_id and a.role = 'exploration')",
    )
    assert in_list > 200
    assert len(explored) == round(0.02 * in_list) > 0
    # The same night drawn again: the same control group and the same exploration leads.
    pool.refill(night, run_id, at(9))
    assert assignments(night, run_id, "control") == kept
    assert assignments(night, run_id, "exploration") == explored


def test_a_run_published_without_its_pool_keeps_its_control_group_off_the_list(night, monkeypatch, caplog):
    """The control group is logged in the transaction that publishes the run: when the pool's
    refill fails afterwards (agents keep the previous pool), published_leads still lists no
    control customer; the refill that follows keeps the same rows."""
    from bank_scoring.scoring import score_customers

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setenv("BANK_SCORING_CONTROL_SHARE", "0.05")
    monkeypatch.setattr(pool, "refill", broken)
    tomorrow = DAY + dt.timedelta(days=1)
    run_id = score_customers(night, tomorrow, now=at(7, day=tomorrow)).run_id
    assert "the pool of leads was not refilled" in caplog.text
    scored = rows(night, "select customer_id from customer_scores where run_id = :r", r=run_id)
    ids = np.array([r["customer_id"] for r in scored])
    group = set(ids[control.control_mask(ids, 0.05)].tolist())
    assert len(group) > 100
    kept = assignments(night, run_id, "control")
    assert {r["customer_id"] for r in kept} == group
    leads = rows(night, "select customer_id from published_leads where run_id = :r", r=run_id)
    listed = {r["customer_id"] for r in leads}
    barred = {r["customer_id"] for r in rows(night, "select customer_id from customers where is_do_not_call")}
    assert listed == set(ids.tolist()) - group - barred
    monkeypatch.undo()
    monkeypatch.setenv("BANK_SCORING_CONTROL_SHARE", "0.05")
    pool.refill(night, run_id, at(7, day=tomorrow))
    assert assignments(night, run_id, "control") == kept
    assert (
        one(
            night,
            "select count(*) from lead_pool where customer_id in (select customer_id from lead_assignments "
            "where run_id = :r and role = 'control')",
            r=run_id,
        )
        == 0
    )


def test_exploration_leads_come_from_below_the_cut_into_the_list(night):
    run_id = run_of(night)
    pool.refill(night, run_id, at(8), control_share=0.2, exploration_share=0.1)
    explored = assignments(night, run_id, "exploration")
    list_end = one(night, "select max(rank) from customer_scores where run_id = :r and band = 'A'", r=run_id)
    in_list = one(
        night,
        "select count(*) from lead_pool as p where p.band = 'A'",
    )
    assert len(explored) == round(0.1 * in_list) >= 20
    below = one(night, "select count(*) from lead_pool where band <> 'A'")  # the drawn ones included
    for r in explored:
        assert r["score_rank"] > list_end  # drawn from below the cut
        assert r["pool_rank"] <= list_end  # put into the list
        assert r["selection_probability"] == pytest.approx(len(explored) / below)
        placed = rows(night, "select rank, band from lead_pool where customer_id = :c", c=r["customer_id"])
        assert [p["rank"] for p in placed] == [r["pool_rank"]]
        assert placed[0]["band"] != "A"
    places = sorted(r["pool_rank"] for r in explored)
    assert places[0] < list_end / 5 and places[-1] > list_end * 4 / 5  # spread over the list
    gaps = np.diff(places)
    assert gaps.max() < 3 * list_end / len(places)
    # Interleaved: list leads before, between and after them in the pool's order.
    order = rows(night, "select customer_id, band from lead_pool where rank <= :e order by rank", e=list_end)
    bands = "".join("A" if o["band"] == "A" else "x" for o in order)
    assert bands.startswith("A") and bands.endswith("A") and bands.count("x") == len(explored)
    assert "xxx" not in bands


def called_down_to_the_first_exploration_lead(night) -> dict:
    """Refill with a large exploration slice; agents have called the list down to its first lead."""
    run_id = run_of(night)
    pool.refill(night, run_id, at(8), control_share=0.2, exploration_share=0.1)
    first = min(assignments(night, run_id, "exploration"), key=lambda r: r["pool_rank"])
    with night.begin() as conn:
        conn.execute(text("delete from lead_pool where rank < :k"), {"k": first["pool_rank"]})
    return first


def test_an_exploration_lead_given_back_keeps_its_place_in_the_list(night):
    first = called_down_to_the_first_exploration_lead(night)
    taken = next_lead(night, "ana", at(10))
    assert (taken.customer_id, taken.rank) == (first["customer_id"], first["pool_rank"])
    release(night, "ana", taken.customer_id, at(10, 1))
    # Back at its place in the list, ahead of the list's next leads, not at its score rank
    # far below the cut (where nobody would reach it, and the claim's rank would say so).
    again = next_lead(night, "ben", at(10, 2))
    assert (again.customer_id, again.rank) == (first["customer_id"], first["pool_rank"])
    release(night, "ben", again.customer_id, at(10, 3))
    record_outcome(
        night, "ana", next_lead(night, "ana", at(10, 4)).customer_id, "call_back", at(10, 5), callback_at=at(11)
    )
    callback = next_lead(night, "ana", at(11))
    assert (callback.customer_id, callback.rank, callback.is_callback) == (
        first["customer_id"],
        first["pool_rank"],
        True,
    )
    assert one(night, "select max(rank) from lead_claims") == first["pool_rank"]


def _add_campaign(engine):
    import datetime as dt

    with engine.begin() as conn:
        conn.execute(
            text("insert into campaigns (campaign_name, starts_on, ends_on) values ('autumn', :s, :e)"),
            {"s": DAY - dt.timedelta(days=10), "e": DAY + dt.timedelta(days=5)},
        )


def test_harvested_exploration_row_carries_its_probability(night):
    _add_campaign(night)
    first = called_down_to_the_first_exploration_lead(night)
    explored = next_lead(night, "ana", at(10))
    listed = next_lead(night, "ben", at(10))
    assert explored.customer_id == first["customer_id"]
    assert explored.rank == first["pool_rank"]
    sold = record_outcome(night, "ana", explored.customer_id, "subscribed", at(10, 5))
    record_outcome(night, "ben", listed.customer_id, "declined", at(10, 5))
    harvest_calls(night, now=at(12))
    found = {
        r["customer_id"]: r
        for r in rows(
            night,
            "select customer_id, selection, selection_probability from campaign_contacts "
            "where call_outcome_id is not null",
        )
    }
    assert found[explored.customer_id]["selection"] == "exploration"
    assert found[explored.customer_id]["selection_probability"] == pytest.approx(first["selection_probability"])
    assert (found[listed.customer_id]["selection"], found[listed.customer_id]["selection_probability"]) == (
        "list",
        1.0,
    )
    training = training_data.load_training_rows(night)
    weights = training_data.training_weights(training)
    is_explored = (training["contact_id"] == HARVEST_ID_BASE + sold.call_outcome_id).to_numpy()
    assert (training["selection"].to_numpy()[is_explored] == "exploration").all()
    expected = min(1 / first["selection_probability"], training_data.EXPLORATION_WEIGHT_CAP)
    assert weights[is_explored][0] / weights[~is_explored][0] == pytest.approx(expected)


def test_training_weights_are_the_inverse_probability_capped_and_normalised():
    frame = pd.DataFrame(
        {
            "contact_id": [1, 2, 3, 4, 5],
            "selection": [None, "list", "exploration", "exploration", "exploration"],
            "selection_probability": [None, 1.0, 0.2, 0.5, 0.001],
        }
    )
    weights = training_data.training_weights(frame)
    assert weights.mean() == pytest.approx(1.0)
    # 1/0.001 would weigh one lead as a thousand: capped at EXPLORATION_WEIGHT_CAP (10)
    assert training_data.EXPLORATION_WEIGHT_CAP == 10
    assert weights / weights[0] == pytest.approx([1, 1, 5, 2, 10])
    assert training_data.training_weights(frame.assign(selection="list")) is None
    with pytest.raises(TrainingDataError, match="selection probability"):
        training_data.training_weights(frame.assign(selection_probability=[None, 1.0, 0.0, 0.5, 0.1]))


def test_training_weighs_exploration_rows_by_the_inverse_probability(trained_sqlite_engine, model_dir, monkeypatch):
    from sklearn.ensemble import HistGradientBoostingClassifier

    from bank_scoring.training import train_model

    engine = trained_sqlite_engine
    before = training_data.fingerprint(training_data.load_training_rows(engine))
    unweighted = training_data.load_training_rows(engine)[list(training_data.TRAINING_COLUMNS)]
    assert training_data.fingerprint(unweighted) == before  # rows without weights hash as before
    with engine.begin() as conn:
        conn.execute(
            text(
                "update campaign_contacts set selection = 'exploration', selection_probability = 0.1 "
                "where contact_id in (select contact_id from campaign_contacts order by contact_id limit 300)"
            )
        )
    assert training_data.fingerprint(training_data.load_training_rows(engine)) != before
    seen = []
    fit = HistGradientBoostingClassifier.fit

    def spy(self, X, y, sample_weight=None):
        seen.append(None if sample_weight is None else np.asarray(sample_weight))
        return fit(self, X, y, sample_weight=sample_weight)

    monkeypatch.setattr(HistGradientBoostingClassifier, "fit", spy)
    result = train_model(engine, model_dir, promote="never")
    assert not result.reused
    assert len(seen) == 2  # the model and the cross-fitted scorer of the recalibration
    full = seen[0]
    assert full is not None and full.max() / full.min() == pytest.approx(10.0)
    assert full.mean() == pytest.approx(1.0, rel=0.05)
    assert seen[1] is not None and seen[1].max() / seen[1].min() == pytest.approx(10.0)
    again = train_model(engine, model_dir, promote="never")
    assert again.reused and again.model_version == result.model_version


def test_the_pool_of_a_published_night_follows_the_clock_it_is_given(night):
    """A simulation (or a backfill) publishes nights on its own clock: a customer declined
    on that clock yesterday stays out of the pool, as the contact policy says."""
    import datetime as dt

    from bank_scoring.scoring.publish import agents_after_publish

    run_id = run_of(night)
    lead = next_lead(night, "ana", at(10))
    record_outcome(night, "ana", lead.customer_id, "declined", at(10))
    in_pool = "select count(*) from lead_pool where customer_id = :c"
    agents_after_publish(night, run_id, DAY, now=at(10) + dt.timedelta(days=1))
    assert one(night, in_pool, c=lead.customer_id) == 0  # declined yesterday: rests 90 days
    agents_after_publish(night, run_id, DAY, now=at(10) + dt.timedelta(days=91))
    assert one(night, in_pool, c=lead.customer_id) == 1
