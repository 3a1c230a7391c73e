"""Tomorrow's features see today's calls: campaign counts and the roll-over to a new campaign."""

from __future__ import annotations

import datetime as dt

from support import DAY, at

from bank_scoring.db import HARVEST_ID_BASE
from bank_scoring.loop.harvest import harvest_calls
from bank_scoring.loop.roll import roll_customer_attributes

from .test_harvest import add_campaign, customers, one, rows, tess

ATTRS = "select campaign, pdays, previous_contacts, previous_outcome from customers where customer_id = :c"


def test_calls_count_into_the_campaign_and_roll_over_when_a_new_one_starts(night):
    add_campaign(night)  # DAY - 10 .. DAY + 5
    add_campaign(night, "winter", DAY + dt.timedelta(days=10), None)
    customer, untouched = customers(night, 2)
    file = rows(night, ATTRS, c=customer)[0]
    untouched_before = rows(night, ATTRS, c=untouched)[0]
    loaded_day = one(
        night,
        "select contact_date from campaign_contacts where customer_id = :c order by contact_id desc limit 1",
        c=customer,
    )
    first = tess(night, customer, "no_answer", at(10))

    done = roll_customer_attributes(night, DAY)
    assert (done.calls_counted, done.customers_updated) == (1, 1)
    # The file's campaign became the previous one; this campaign counts today's call.
    now = rows(night, ATTRS, c=customer)[0]
    assert now["campaign"] == 1
    assert now["previous_contacts"] == file["previous_contacts"] + file["campaign"]
    if loaded_day is not None:
        start = DAY - dt.timedelta(days=10)
        assert now["pdays"] == (start - dt.date.fromisoformat(str(loaded_day)[:10])).days

    answer = tess(night, customer, "declined", at(10, day=DAY + dt.timedelta(days=1)))
    roll_customer_attributes(night, DAY + dt.timedelta(days=1))
    again = roll_customer_attributes(night, DAY + dt.timedelta(days=1))
    assert again.calls_counted == 0  # each call counted once
    assert rows(night, ATTRS, c=customer)[0]["campaign"] == 2

    # Winter starts: autumn's two calls roll over.
    rolled = roll_customer_attributes(night, DAY + dt.timedelta(days=10))
    assert rolled.rolled_over == 1
    winter = rows(night, ATTRS, c=customer)[0]
    assert winter["campaign"] == 0
    assert winter["previous_contacts"] == now["previous_contacts"] + 2
    assert winter["pdays"] == 9  # last autumn call DAY + 1, winter starts DAY + 10
    assert winter["previous_outcome"] == "failure"
    assert rows(night, ATTRS, c=untouched)[0] == untouched_before  # never called: the file's values

    # The harvest sees the attributes of the moment of the call, not winter's: the declined
    # call (the autumn's answer) was the second of the campaign, after the file's rolled over.
    harvest_calls(night, now=at(12, day=DAY + dt.timedelta(days=10)))
    made = rows(
        night,
        "select contact_id, campaign, previous_contacts, previous_outcome from campaign_contacts "
        "where customer_id = :c and call_outcome_id is not null",
        c=customer,
    )
    assert [(r["contact_id"], r["campaign"], r["previous_contacts"]) for r in made] == [
        (HARVEST_ID_BASE + answer.call_outcome_id, 2, file["previous_contacts"] + file["campaign"])
    ]
    assert one(
        night, "select superseded_by from harvested_calls where call_outcome_id = :c", c=first.call_outcome_id
    ) == (answer.call_outcome_id)


def test_tomorrows_scores_read_todays_calls(night):
    from bank_scoring.scoring import postgres, sqlite

    add_campaign(night)
    customer = customers(night, 1)[0]
    tess(night, customer, "no_answer", at(10))
    tess(night, customer, "no_answer", at(11))
    harvest_calls(night, now=at(12))
    roll_customer_attributes(night, DAY)

    backend = postgres if night.dialect.name == "postgresql" else sqlite
    with night.connect() as conn:
        scored = backend.read_chunk(conn, customer - 1, customer, 1)  # what the nightly run reads
    assert scored["customer_id"].tolist() == [customer]
    assert scored["campaign"].tolist() == [2]
