"""Claims and the contact policy, on both databases, against a clock each test sets."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import text

from bank_scoring.agents import errors, policy
from bank_scoring.agents.claims import next_lead, record_outcome, release
from bank_scoring.agents.customers import object_to_marketing, set_time_zone
from bank_scoring.scoring import score_customers

from .conftest import DAY, at, scalar


def outcomes(engine) -> int:
    return scalar(engine, "select count(*) from call_outcomes")


def set_rules(engine, **changes):
    with engine.begin() as conn:
        rules = policy.load_rules(conn)
        policy.save_rules(conn, dataclasses.replace(rules, **changes))


def test_each_lead_goes_to_one_agent_best_first(night):
    first = next_lead(night, "ana", at(10))
    second = next_lead(night, "ben", at(10))
    assert (first.rank, second.rank) == (1, 2)
    assert first.customer_id != second.customer_id
    assert first.expires_at == at(10, 15)
    assert first.band == "A" and 0 < second.propensity <= first.propensity
    with pytest.raises(errors.ClaimLimit, match="record or release"):
        next_lead(night, "ana", at(10, 1))


def test_release_returns_the_lead_and_a_lapsed_lease_too(night):
    lead = next_lead(night, "ana", at(10))
    assert release(night, "ana", lead.customer_id, at(10, 2)) == lead.claim_id
    again = next_lead(night, "ben", at(10, 3))
    assert again.customer_id == lead.customer_id
    # ben's lease runs out unrecorded: ana gets the lead back, ben can record nothing
    back = next_lead(night, "ana", at(10, 19))
    assert back.customer_id == lead.customer_id
    with pytest.raises(errors.NoClaim, match="expired"):
        record_outcome(night, "ben", lead.customer_id, "subscribed", at(10, 20))
    assert outcomes(night) == 0
    with pytest.raises(errors.NoClaim):
        release(night, "ben", lead.customer_id, at(10, 20))


def test_recording_is_idempotent_and_needs_the_claim(night):
    lead = next_lead(night, "ana", at(10))
    with pytest.raises(errors.NoClaim, match="holds no claim"):
        record_outcome(night, "ben", lead.customer_id, "subscribed", at(10, 1))
    done = record_outcome(night, "ana", lead.customer_id, "subscribed", at(10, 5), notes="12-month deposit")
    again = record_outcome(night, "ana", lead.customer_id, "subscribed", at(10, 6))
    assert (done.duplicate, again.duplicate) == (False, True)
    assert again.call_outcome_id == done.call_outcome_id and outcomes(night) == 1
    with pytest.raises(errors.NoClaim, match="already recorded"):
        record_outcome(night, "ana", lead.customer_id, "declined", at(10, 7))
    row = night.connect().execute(text("select claim_id, rank, band, propensity from call_outcomes")).one()
    assert (row.claim_id, row.rank, row.band) == (lead.claim_id, lead.rank, lead.band)
    # subscribed: not listed again in this campaign
    assert policy.held_by(night, lead.customer_id, at(10) + dt.timedelta(days=200)) == "subscribed"


def test_do_not_call_flags_the_customer_for_good(night):
    lead = next_lead(night, "ana", at(10))
    record_outcome(night, "ana", lead.customer_id, "do_not_call", at(10, 2), notes="asked never to be called")
    assert scalar(night, "select is_do_not_call from customers where customer_id = :c", c=lead.customer_id)
    assert scalar(night, "select kind from customer_objections where customer_id = :c", c=lead.customer_id) == (
        "do_not_call"
    )
    score_customers(night, DAY + dt.timedelta(days=1))  # the next night
    assert scalar(night, "select count(*) from lead_pool where customer_id = :c", c=lead.customer_id) == 0
    later = at(11, day=DAY + dt.timedelta(days=400))
    assert policy.held_by(night, lead.customer_id, later) == "do_not_call"


def test_declined_is_held_for_the_cool_down(night):
    lead = next_lead(night, "ana", at(10))
    record_outcome(night, "ana", lead.customer_id, "declined", at(10, 3))
    assert next_lead(night, "ana", at(10, 4)).customer_id != lead.customer_id
    assert policy.held_by(night, lead.customer_id, at(10, 3) + dt.timedelta(days=89)) == "declined"
    assert policy.held_by(night, lead.customer_id, at(10, 4) + dt.timedelta(days=90)) is None


def test_no_answer_comes_back_after_hours_within_daily_and_campaign_limits(night):
    set_rules(night, max_campaign_attempts=3)
    lead = next_lead(night, "ana", at(10))
    record_outcome(night, "ana", lead.customer_id, "no_answer", at(10, 1))
    assert policy.held_by(night, lead.customer_id, at(13, 59)) == "no_answer"
    claimed = [next_lead(night, "ben", at(13, 59))]
    assert claimed[0].customer_id != lead.customer_id
    release(night, "ben", claimed[0].customer_id, at(14, 0))
    back = next_lead(night, "ben", at(14, 2))  # due, and its rank beats the pool's
    assert back.customer_id == lead.customer_id and not back.is_callback
    record_outcome(night, "ben", lead.customer_id, "no_answer", at(14, 3))
    assert policy.held_by(night, lead.customer_id, at(18, 30)) == "daily_attempts"  # 2 a day
    tomorrow = DAY + dt.timedelta(days=1)
    assert policy.held_by(night, lead.customer_id, at(10, day=tomorrow)) is None
    third = next_lead(night, "ana", at(10, day=tomorrow))
    assert third.customer_id == lead.customer_id
    record_outcome(night, "ana", lead.customer_id, "no_answer", at(10, 1, day=tomorrow))
    assert policy.held_by(night, lead.customer_id, at(16, day=tomorrow)) == "campaign_attempts"
    assert scalar(night, "select returns_at from contact_state where customer_id = :c", c=lead.customer_id) is None


def test_callback_goes_to_its_agent_first_then_anyone_ahead_of_rank(night):
    lead = next_lead(night, "ana", at(10))
    record_outcome(night, "ana", lead.customer_id, "call_back", at(10, 2), callback_at=at(15))
    assert policy.held_by(night, lead.customer_id, at(14, 59)) == "callback_later"
    assert policy.held_by(night, lead.customer_id, at(15, 5), "ben") == "callback_for_agent"
    other = next_lead(night, "ben", at(15, 5))
    assert other.customer_id != lead.customer_id
    mine = next_lead(night, "ana", at(15, 6))
    assert mine.customer_id == lead.customer_id and mine.is_callback
    release(night, "ana", lead.customer_id, at(15, 7))
    # past the grace period anyone gets it, ahead of the pool's best rank
    record_outcome(night, "ben", other.customer_id, "declined", at(15, 10))
    taken = next_lead(night, "ben", at(15, 41))
    assert taken.customer_id == lead.customer_id and taken.is_callback


def test_calling_hours_in_the_customers_time_zone(night):
    assert next_lead(night, "ana", at(8, 59)) is None  # 08:59 in Lisbon
    assert next_lead(night, "ana", at(21, 0)) is None
    best = scalar(night, "select customer_id from lead_pool order by rank limit 1")
    set_time_zone(night, best, "America/New_York")  # 10:00 UTC is 05:00 there
    lead = next_lead(night, "ana", at(10))
    assert lead.customer_id != best and lead.rank == 2
    assert policy.held_by(night, best, at(10)) == "calling_hours"
    assert policy.held_by(night, best, at(14, 30)) is None  # 09:30 in New York
    with pytest.raises(ValueError, match="not a time zone"):
        set_time_zone(night, best, "Mars/Olympus_Mons")


def test_objection_stops_calls_and_scoring(night):
    lead = next_lead(night, "ana", at(10))
    object_to_marketing(night, lead.customer_id, "GDPR Art. 21 letter", "branch", at(10, 1))
    with pytest.raises(errors.NoClaim):
        record_outcome(night, "ana", lead.customer_id, "subscribed", at(10, 2))
    assert policy.held_by(night, lead.customer_id, at(10, 3)) == "do_not_call"
    run = score_customers(night, DAY + dt.timedelta(days=1))
    assert run.customers_suppressed == 1
    assert run.customers_scored + run.customers_rejected + run.customers_suppressed == run.customers_total == 3000
    assert (
        scalar(
            night,
            "select count(*) from customer_scores where customer_id = :c and run_id = :r",
            c=lead.customer_id,
            r=run.run_id,
        )
        == 0
    )


def test_a_new_night_mid_shift_keeps_claims_and_the_days_calls(night):
    held = next_lead(night, "ana", at(10))
    declined = next_lead(night, "ben", at(10))
    record_outcome(night, "ben", declined.customer_id, "declined", at(10, 1))
    unanswered = next_lead(night, "ben", at(10, 2))
    record_outcome(night, "ben", unanswered.customer_id, "no_answer", at(10, 3))
    score_customers(night, DAY)  # the night is scored again and republished mid-shift
    for _ in range(20):
        lead = next_lead(night, "ben", at(10, 5))
        assert lead.customer_id not in {held.customer_id, declined.customer_id, unanswered.customer_id}
        record_outcome(night, "ben", lead.customer_id, "subscribed", at(10, 5))
    assert not record_outcome(night, "ana", held.customer_id, "subscribed", at(10, 10)).duplicate


def test_team_lead_records_without_a_claim(night):
    customer = scalar(night, "select customer_id from lead_pool order by rank desc limit 1")
    done = record_outcome(night, "tess", customer, "do_not_call", at(11), notes="complaint by letter")
    assert done.claim_id is None and scalar(
        night, "select is_do_not_call from customers where customer_id = :c", c=customer
    )


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda e, c: record_outcome(e, "zoe", c, "subscribed", at(10, 1)), errors.UnknownAgent),
        (lambda e, c: record_outcome(e, "ana", 987654321, "subscribed", at(10, 1)), errors.UnknownCustomer),
        (lambda e, c: record_outcome(e, "ana", c, "maybe", at(10, 1)), errors.BadOutcome),
        (lambda e, c: record_outcome(e, "ana", c, "call_back", at(10, 1), callback_at=at(9)), errors.BadOutcome),
        (lambda e, c: record_outcome(e, "ana", c, "call_back", at(10, 1)), errors.BadOutcome),
        (lambda e, c: record_outcome(e, "ana", c, "declined", at(10, 1), callback_at=at(12)), errors.BadOutcome),
        (
            lambda e, c: record_outcome(
                e, "ana", c, "call_back", at(10, 1), callback_at=at(10, day=dt.date(2027, 2, 1))
            ),
            errors.BadOutcome,
        ),
        (lambda e, c: next_lead(e, "zoe", at(10, 1)), errors.UnknownAgent),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(night, call, error):
    with night.begin() as conn:
        conn.execute(
            text("insert into campaigns (campaign_name, starts_on, ends_on) values ('winter', :s, :e)"),
            {"s": DAY - dt.timedelta(days=10), "e": dt.date(2027, 1, 31)},
        )
    lead = next_lead(night, "ana", at(10))
    before = {t: scalar(night, f"select count(*) from {t}") for t in ("call_outcomes", "lead_claims", "contact_state")}
    with pytest.raises(error):
        call(night, lead.customer_id)
    assert before == {t: scalar(night, f"select count(*) from {t}") for t in before}
    assert scalar(night, "select status from lead_claims where claim_id = :k", k=lead.claim_id) == "open"


def test_a_new_campaign_lets_subscribers_be_called_again(night):
    lead = next_lead(night, "ana", at(10))
    record_outcome(night, "ana", lead.customer_id, "subscribed", at(10, 1))
    with night.begin() as conn:
        conn.execute(text("insert into campaigns (campaign_name, starts_on) values ('spring', '2027-03-01')"))
    assert policy.held_by(night, lead.customer_id, at(10, day=dt.date(2027, 2, 28))) == "subscribed"
    assert policy.held_by(night, lead.customer_id, at(10, day=dt.date(2027, 3, 1))) is None


def test_preview_counts_every_customer_once(night):
    lead = next_lead(night, "ana", at(10))
    record_outcome(night, "ana", lead.customer_id, "declined", at(10, 1))
    claimed = next_lead(night, "ben", at(10, 2))
    found = policy.preview(night, at(10, 3))
    assert found["customers"] == scalar(
        night, "select count(*) from customer_scores where run_id = :r", r=found["run_id"]
    )
    assert found["held"]["declined"] == 1 and found["held"]["claimed"] == 1
    # The night's control customers are never handed out: not counted as callable.
    control = "select count(*) from lead_assignments where run_id = :r and role = 'control'"
    assert found["held"]["control_group"] == scalar(night, control, r=found["run_id"]) > 0
    assert found["callable"] == found["customers"] - sum(found["held"].values())
    assert claimed.customer_id
    closed = policy.preview(night, at(22))
    assert closed["callable"] == 0 and closed["held"]["calling_hours"] > 0
    text_ = policy.format_preview(found, policy.load_rules(night.connect()))
    assert "callable" in text_ and "declined" in text_ and "control group" in text_


def test_a_customer_at_the_days_limit_waits_for_tomorrow_off_the_returning_queue(night):
    lead = next_lead(night, "ana", at(10))
    record_outcome(night, "ana", lead.customer_id, "no_answer", at(10, 1))
    assert scalar(night, "select returns_at from contact_state where customer_id = :c", c=lead.customer_id) is not None
    again = next_lead(night, "ana", at(14, 5))
    assert again.customer_id == lead.customer_id
    record_outcome(night, "ana", lead.customer_id, "no_answer", at(14, 6))
    returns = scalar(night, "select returns_at from contact_state where customer_id = :c", c=lead.customer_id)
    assert str(returns).startswith("2026-11-29 09:00")  # Lisbon opens at 09:00 UTC in November
