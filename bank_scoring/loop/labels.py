"""New labels since the last training: when enough have arrived, the model retrains.

A label is a training row the harvest added from an agent's call (harvested_calls with
status 'labelled', or 'unreached': calls of an ended campaign that never reached the
customer, one row labelled not subscribed). The last training is the newest row of
``model_versions`` whatever its status: a challenger the gate refused still saw those
rows, and a retrain on unchanged rows reuses its version (no new row), so the count only
grows with calls harvested after it. Both sides are naive UTC timestamps: the harvest's
``harvested_at`` against the version's ``created_at``.

The nightly DAG harvests before it scores (``nightly_harvest``: tonight's scores see
yesterday's calls), then emits an event on the Asset ``LABELLED_ASSET_URI`` only when the
count reaches the threshold; the retrain DAG is scheduled on its week or that Asset.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine, text

LABEL_STATUSES = ("labelled", "unreached")


def last_training_at(engine: Engine) -> dt.datetime | None:
    """When the newest model version was registered (naive UTC), None with no version."""
    with engine.connect() as conn:
        value = conn.execute(text("select max(created_at) from model_versions")).scalar()
    if isinstance(value, str):  # SQLite may hand back text
        value = dt.datetime.fromisoformat(value)
    return value


def new_labels_since_last_training(engine: Engine) -> int:
    """Training rows harvested from calls since the newest model version was trained."""
    since = last_training_at(engine)
    sql = (
        "select count(distinct contact_id) from harvested_calls "
        "where status in ('labelled', 'unreached') and contact_id is not null"
    )
    params: dict = {}
    if since is not None:
        sql += " and harvested_at > :since"
        params["since"] = since
    with engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar() or 0)


@dataclass(frozen=True)
class NightlyHarvest:
    harvest: dict
    roll: dict
    new_labels: int
    threshold: int

    @property
    def retrain_due(self) -> bool:
        return self.new_labels >= self.threshold

    def as_dict(self) -> dict:
        return {
            "harvest": self.harvest,
            "roll": self.roll,
            "new_labels": self.new_labels,
            "threshold": self.threshold,
            "retrain_due": self.retrain_due,
        }


def nightly_harvest(engine: Engine, threshold: int, now: dt.datetime | None = None) -> NightlyHarvest:
    """Harvest finished calls, count the day's calls into the customers, count new labels.

    As ``bank-scoring harvest`` does, then ``new_labels_since_last_training``. Safe to
    retry: the harvest takes each call once and the roll counts each call once.
    """
    from bank_scoring.agents import policy
    from bank_scoring.loop.harvest import harvest_calls
    from bank_scoring.loop.roll import roll_customer_attributes

    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    found = harvest_calls(engine, now=now)
    with engine.connect() as conn:
        today = policy.local_now(policy.load_rules(conn), now).date()
    rolled = roll_customer_attributes(engine, today, now=now)
    return NightlyHarvest(
        harvest=found.as_dict(),
        roll={"day": today.isoformat(), **rolled.as_dict()},
        new_labels=new_labels_since_last_training(engine),
        threshold=threshold,
    )
