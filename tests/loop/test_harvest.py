"""Harvesting agents' calls into training rows: labels, point in time, exactly once, bad input."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import text
from support import DAY, at

from bank_scoring import registry
from bank_scoring.agents.claims import next_lead, record_outcome
from bank_scoring.db import HARVEST_ID_BASE
from bank_scoring.loop import harvest as harvest_module
from bank_scoring.loop.harvest import harvest_calls
from bank_scoring.training.data import load_training_rows, training_frame


def rows(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).mappings().all()


def one(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def add_campaign(engine, name="autumn", starts=DAY - dt.timedelta(days=10), ends=DAY + dt.timedelta(days=5)):
    with engine.begin() as conn:
        conn.execute(
            text("insert into campaigns (campaign_name, starts_on, ends_on) values (:n, :s, :e)"),
            {"n": name, "s": starts, "e": ends},
        )


def customers(engine, n, offset=0):
    """``n`` customers with every attribute present, not flagged."""
    found = rows(
        engine,
        "select customer_id from customers where not is_do_not_call and job is not null "
        "order by customer_id limit :n offset :o",
        n=n,
        o=offset,
    )
    return [r["customer_id"] for r in found]


def tess(engine, customer_id, outcome, when, **kw):
    """The team lead records a call to any customer (no claim needed)."""
    return record_outcome(engine, "tess", customer_id, outcome, when, **kw)


def reasons_of(summary):
    return dict(summary.rejects)


def harvested(engine, call_id):
    return rows(engine, "select * from harvested_calls where call_outcome_id = :c", c=call_id)


def test_labels_provenance_and_attributes_at_the_call(night):
    add_campaign(night)
    leads = [next_lead(night, agent, at(10)) for agent in ("ana", "ben")]
    before = {
        r["customer_id"]: r
        for r in rows(
            night,
            "select customer_id, balance, campaign, pdays from customers where customer_id in (:a, :b)",
            a=leads[0].customer_id,
            b=leads[1].customer_id,
        )
    }
    sold = record_outcome(night, "ana", leads[0].customer_id, "subscribed", at(10, 5))
    declined = record_outcome(night, "ben", leads[1].customer_id, "declined", at(10, 6))
    refused = next_lead(night, "ana", at(10, 10))
    dnc = record_outcome(night, "ana", refused.customer_id, "do_not_call", at(10, 12))
    # After the call the customer's balance changes: the training row keeps the old one.
    with night.begin() as conn:
        conn.execute(
            text("update customers set balance = balance + 1000000 where customer_id = :c"), {"c": leads[0].customer_id}
        )

    summary = harvest_calls(night, now=at(12))

    assert (summary.labelled, summary.not_a_label, summary.rows_added, summary.pending) == (2, 1, 2, 0)
    row = rows(
        night, "select * from campaign_contacts where contact_id = :k", k=HARVEST_ID_BASE + sold.call_outcome_id
    )[0]
    old = before[leads[0].customer_id]
    assert row["balance"] == old["balance"]
    assert row["customer_id"] == leads[0].customer_id
    assert bool(row["is_subscribed"]) is True
    assert str(row["contact_date"])[:10] == DAY.isoformat()
    assert (row["contact_year"], row["contact_month"], row["contact_day"]) == (DAY.year, "nov", DAY.day)
    assert row["campaign"] == old["campaign"] + 1  # the UCI count includes this call
    assert row["pdays"] == old["pdays"]
    assert row["duration_seconds"] is None
    run_version = one(night, "select model_version from scoring_runs where run_id = :r", r=leads[0].run_id)
    assert (row["call_outcome_id"], row["run_id"], row["model_version"], row["lead_rank"]) == (
        sold.call_outcome_id,
        leads[0].run_id,
        run_version,
        leads[0].rank,
    )
    other = rows(
        night,
        "select is_subscribed, lead_rank from campaign_contacts where call_outcome_id = :c",
        c=declined.call_outcome_id,
    )
    assert [(bool(r["is_subscribed"]), r["lead_rank"]) for r in other] == [(False, leads[1].rank)]
    assert harvested(night, dnc.call_outcome_id)[0]["status"] == "not_a_label"
    assert one(night, "select count(*) from campaign_contacts where call_outcome_id = :c", c=dnc.call_outcome_id) == 0
    # Training reads the harvested rows with the loaded ones.
    training = load_training_rows(night)
    assert (training["contact_id"] == HARVEST_ID_BASE + sold.call_outcome_id).sum() == 1


def test_a_harvested_row_is_what_the_night_scored(night):
    """Train like you serve: a call made on the score date becomes a training row that the
    model which scored that night scores as it scored the customer (campaign counts the call)."""
    add_campaign(night)
    called = customers(night, 40)
    calls = [tess(night, c, "declined", at(10, i)) for i, c in enumerate(called)]
    harvest_calls(night, now=at(12))
    training = load_training_rows(night)
    X, _ = training_frame(training)  # as the retrain reads them
    customer_of = {HARVEST_ID_BASE + call.call_outcome_id: c for call, c in zip(calls, called, strict=True)}
    is_mine = training["contact_id"].isin(customer_of).to_numpy()
    mine, X = training[is_mine], X[is_mine]
    assert len(mine) == len(called)
    scored = {
        r["customer_id"]: r
        for r in rows(
            night, "select customer_id, propensity, model_version from customer_scores where score_date = :d", d=DAY
        )
    }
    version = {scored[c]["model_version"] for c in called}
    assert len(version) == 1
    model = registry.load_model(registry.get_version(night, version.pop()))
    as_trained = model.predict(X)
    as_scored = [scored[customer_of[k]]["propensity"] for k in mine["contact_id"]]
    assert as_trained == pytest.approx(as_scored, abs=1e-9)


def test_unanswered_calls_wait_for_the_customer_or_the_campaign_end(night):
    add_campaign(night)
    reached, never = customers(night, 2)
    first = tess(night, reached, "no_answer", at(9))
    second = tess(night, reached, "call_back", at(10), callback_at=at(15))
    tries = [tess(night, never, "no_answer", at(9, 30)), tess(night, never, "no_answer", at(11))]

    running = harvest_calls(night, now=at(12))
    assert (running.pending, running.rows_added) == (4, 0)
    assert harvested(night, first.call_outcome_id) == []

    answer = tess(night, reached, "declined", at(15, 5))
    after_answer = harvest_calls(night, now=at(16))
    assert (after_answer.labelled, after_answer.superseded, after_answer.pending) == (1, 2, 2)
    for call in (first, second):
        mark = harvested(night, call.call_outcome_id)[0]
        assert (mark["status"], mark["superseded_by"]) == ("superseded", answer.call_outcome_id)

    # The campaign ends (DAY + 5) without reaching ``never``: one row, not subscribed.
    ended = harvest_calls(night, now=at(12, day=DAY + dt.timedelta(days=6)))
    assert (ended.unreached, ended.rows_added, ended.pending) == (2, 1, 0)
    made = rows(
        night,
        "select contact_id, is_subscribed, contact_day from campaign_contacts where customer_id = :c "
        "and call_outcome_id is not null",
        c=never,
    )
    assert [(r["contact_id"], bool(r["is_subscribed"])) for r in made] == [
        (HARVEST_ID_BASE + tries[-1].call_outcome_id, False)
    ]
    assert {harvested(night, t.call_outcome_id)[0]["contact_id"] for t in tries} == {made[0]["contact_id"]}


def test_a_rerun_and_a_retry_after_a_failure_harvest_each_call_once(night, monkeypatch):
    add_campaign(night)
    calls = [
        tess(night, c, "declined" if i % 2 else "subscribed", at(10, i)) for i, c in enumerate(customers(night, 7))
    ]
    real_write = harvest_module._write
    writes = []

    def failing(conn, new_rows, marks):
        writes.append(len(new_rows))
        if len(writes) == 2:
            real_write(conn, new_rows, marks)  # written, then the transaction fails
            raise RuntimeError("killed in the middle")
        real_write(conn, new_rows, marks)

    monkeypatch.setattr(harvest_module, "_write", failing)
    with pytest.raises(RuntimeError):
        harvest_calls(night, now=at(12), batch_size=3)
    assert one(night, "select count(*) from campaign_contacts where call_outcome_id is not null") == 3
    assert one(night, "select count(*) from harvested_calls") == 3
    monkeypatch.setattr(harvest_module, "_write", real_write)

    retry = harvest_calls(night, now=at(12), batch_size=3)
    again = harvest_calls(night, now=at(12), batch_size=3)
    assert (retry.rows_added, again.rows_added, again.calls_seen) == (4, 0, 0)
    ids = [
        r["call_outcome_id"]
        for r in rows(
            night,
            "select call_outcome_id from campaign_contacts where call_outcome_id is not null order by call_outcome_id",
        )
    ]
    assert ids == [c.call_outcome_id for c in calls]
    assert one(night, "select count(*) from harvested_calls where status = 'labelled'") == len(calls)


def test_two_harvests_at_once_harvest_each_call_once(night):
    add_campaign(night)
    calls = [tess(night, c, "declined", at(10, i)) for i, c in enumerate(customers(night, 20))]
    start = threading.Barrier(2)
    found, failures = [], []

    def run():
        try:
            start.wait()
            found.append(harvest_calls(night, now=at(12), batch_size=2))
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert failures == []
    assert sum(s.rows_added for s in found) == len(calls)
    assert one(night, "select count(*) from campaign_contacts where call_outcome_id is not null") == len(calls)
    assert one(
        night, "select count(distinct call_outcome_id) from campaign_contacts where call_outcome_id is not null"
    ) == len(calls)
    assert one(night, "select count(*) from harvested_calls") == len(calls)


def test_calls_that_cannot_become_rows_are_recorded_with_their_reason(night):
    add_campaign(night)
    empty, stray, fine = customers(night, 3)
    with night.begin() as conn:
        # Written (by another system) before the call: updated_at says when, as of our test clock.
        conn.execute(
            text("update customers set job = null, updated_at = :t where customer_id = :c"), {"c": empty, "t": at(9)}
        )
    no_job = tess(night, empty, "declined", at(10))
    no_run = tess(night, stray, "subscribed", at(10, 1))
    ok = tess(night, fine, "declined", at(10, 2))
    with night.begin() as conn:
        conn.execute(
            text("update call_outcomes set run_id = 99999 where call_outcome_id = :c"), {"c": no_run.call_outcome_id}
        )

    # A row another system wrote for a customer we do not have (the key check bypassed).
    with night.connect() as conn:
        if night.dialect.name == "sqlite":
            conn.exec_driver_sql("pragma foreign_keys=off")
        else:
            conn.exec_driver_sql("set session_replication_role = replica")
        conn.execute(
            text(
                "insert into call_outcomes (customer_id, score_date, agent_id, outcome, called_at) "
                "values (987654321, :d, 'tess', 'declined', :t)"
            ),
            {"d": DAY, "t": at(10, 3)},
        )
        conn.commit()
        conn.exec_driver_sql(
            "pragma foreign_keys=on" if night.dialect.name == "sqlite" else "reset session_replication_role"
        )
    stranger = one(night, "select call_outcome_id from call_outcomes where customer_id = 987654321")

    summary = harvest_calls(night, now=at(12))

    assert (summary.rejected, summary.labelled, summary.rows_added) == (3, 1, 1), summary
    assert reasons_of(summary)[stranger] == "unknown customer"
    reasons = reasons_of(summary)
    assert "job" in reasons[no_job.call_outcome_id]
    assert "99999" in reasons[no_run.call_outcome_id]
    mark = harvested(night, no_job.call_outcome_id)[0]
    assert (mark["status"], mark["contact_id"]) == ("rejected", None)
    assert "job" in mark["reason"]
    assert harvested(night, ok.call_outcome_id)[0]["status"] == "labelled"
    assert harvest_calls(night, now=at(12)).calls_seen == 0  # recorded once, not retried forever


def test_a_file_loaded_after_a_harvest_is_numbered_below_the_harvested_rows(night):
    from support import load_synthetic

    add_campaign(night)
    call = tess(night, customers(night, 1)[0], "subscribed", at(10))
    harvest_calls(night, now=at(12))
    top_loaded = one(night, "select max(contact_id) from campaign_contacts where contact_id < :b", b=HARVEST_ID_BASE)

    load_synthetic(night, customers=50, seed=99)

    new = rows(night, "select contact_id from campaign_contacts where contact_id > :t", t=top_loaded)
    ids = sorted(r["contact_id"] for r in new)
    assert ids[-1] == HARVEST_ID_BASE + call.call_outcome_id
    assert len(ids) == 51 and ids[:50] == list(range(top_loaded + 1, top_loaded + 51))
