"""New labels since the last training, which the nightly DAG compares with its threshold."""

from __future__ import annotations

from sqlalchemy import text
from support import DAY, at

from bank_scoring.loop.labels import new_labels_since_last_training, nightly_harvest

from .test_harvest import add_campaign, customers, tess


def trained_at(engine, when) -> None:
    """As if the newest model version had been trained at ``when``."""
    with engine.begin() as conn:
        conn.execute(text("update model_versions set created_at = :t"), {"t": when})


def test_labels_are_counted_since_the_newest_version(night):
    add_campaign(night)
    trained_at(night, at(8))
    assert new_labels_since_last_training(night) == 0
    first, second, third, fourth, fifth = customers(night, 5)
    tess(night, first, "subscribed", at(9))
    tess(night, second, "declined", at(9, 10))
    tess(night, third, "no_answer", at(9, 20))  # waits: not a label yet
    tess(night, fourth, "do_not_call", at(9, 30))  # never a label

    found = nightly_harvest(night, threshold=2, now=at(12))
    assert found.harvest["rows_added"] == 2
    assert (found.new_labels, found.retrain_due) == (2, True)
    assert new_labels_since_last_training(night) == 2
    # A harvest that finds nothing new changes nothing.
    assert nightly_harvest(night, threshold=3, now=at(12, 30)).as_dict()["retrain_due"] is False

    # A retrain after those rows: they are no longer new.
    trained_at(night, at(13))
    assert new_labels_since_last_training(night) == 0
    tess(night, fifth, "declined", at(14))
    tess(night, third, "subscribed", at(14, 5))  # reached: its no_answer is superseded, one label
    assert nightly_harvest(night, threshold=500, now=at(15)).new_labels == 2


def test_without_any_model_version_every_label_counts(night):
    add_campaign(night)
    with night.begin() as conn:
        conn.execute(text("update model_versions set created_at = :t"), {"t": at(8)})
    tess(night, customers(night, 1)[0], "subscribed", at(9))
    nightly_harvest(night, threshold=1, now=at(12))
    # Counting against the day before the calls: the same label.
    trained_at(night, at(8, day=DAY.replace(day=DAY.day - 1)))
    assert new_labels_since_last_training(night) == 1
