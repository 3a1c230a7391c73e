"""Tomorrow's features see today's calls: the customers' campaign attributes follow the calls.

The UCI meaning, kept current by ``roll_customer_attributes``:

- ``campaign``: calls made to the customer in the current campaign (the campaigns table;
  a day no campaign covers belongs to campaign '').
- when the customer's campaign changes (a new campaign has started, or a call falls in
  another campaign), the one that ended rolls over: ``previous_contacts`` += its calls,
  ``pdays`` = days from its last call to the new campaign's first day (the call's day for
  campaign ''), ``previous_outcome`` = 'success' if a call brought a subscription,
  'failure' if the customer was reached and declined, 'other' if never reached; then
  ``campaign`` = 0.
- the first time the loop calls a customer, the attributes loaded from the file describe
  an earlier campaign: it rolls over the same way, with the file's campaign count, the
  outcome of the customer's last loaded call (subscribed: success, else failure) and that
  call's date (pdays unchanged when the file gave no date).
- customers the loop has never called keep the file's values.

Each call is counted once (customer_campaign_state.last_call_id), so the roll can run any
number of times. Updates set customers.updated_at to the roll's clock, which the
customer_history trigger records, so the harvest still sees the attributes before the roll.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, text

from bank_scoring.agents import policy
from bank_scoring.db import HARVEST_ID_BASE, as_date
from bank_scoring.loop.campaigns import Campaigns
from bank_scoring.loop.harvest import calls_where, writer

_OUTCOME = {"subscribed": "success", "declined": "failure"}


@dataclasses.dataclass
class RollSummary:
    calls_counted: int = 0
    customers_updated: int = 0
    rolled_over: int = 0

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _day_end(rules, today: dt.date) -> dt.datetime:
    """The first moment after ``today`` in the centre's zone, as naive UTC."""
    start = dt.datetime.combine(today + dt.timedelta(days=1), dt.time()).replace(
        tzinfo=ZoneInfo(rules.centre_time_zone)
    )
    return start.astimezone(dt.UTC).replace(tzinfo=None)


def _start(campaigns: Campaigns, name: str, fallback: dt.date) -> dt.date:
    for starts, n, _ in campaigns.rows:
        if n == name and name:
            return starts
    return fallback


def _roll_over(customer: dict, state: dict, new_campaign: str, new_start: dt.date) -> None:
    customer["previous_contacts"] = int(customer["previous_contacts"] or 0) + int(state["calls"])
    if state["last_call_day"] is not None:
        customer["pdays"] = max((new_start - state["last_call_day"]).days, 0)
    customer["previous_outcome"] = state["outcome"] or "other"
    customer["campaign"] = 0
    state.update(campaign_name=new_campaign, calls=0, outcome=None, last_call_day=None)


def roll_customer_attributes(engine: Engine, today: dt.date, now: dt.datetime | None = None) -> RollSummary:
    """Count the calls made up to the end of ``today`` (centre's time) into the customers' attributes.

    ``now`` (naive UTC) stamps customers.updated_at; by default the end of ``today``.
    Returns how many calls were counted, customers changed and campaigns rolled over.
    """
    summary = RollSummary()
    with writer(engine) as conn:
        rules = policy.load_rules(conn)
        campaigns = Campaigns(conn)
        cutoff = _day_end(rules, today)
        stamp = now or cutoff
        calls = calls_where(
            conn,
            "called_at < :cutoff and call_outcome_id > coalesce((select s.last_call_id from customer_campaign_state "
            "as s where s.customer_id = call_outcomes.customer_id), 0)",
            {"cutoff": cutoff},
            rules,
            campaigns,
        )
        current = campaigns.at(today)
        ids = {c.customer_id for c in calls}
        ids.update(
            int(r[0])
            for r in conn.execute(
                text("select customer_id from customer_campaign_state where campaign_name <> :c"), {"c": current}
            )
        )
        if current == "":
            ids = {c.customer_id for c in calls}  # no campaign started: only calls change anything
        by_customer: dict[int, list] = {i: [] for i in ids}
        for c in sorted(calls, key=lambda c: (c.called_at, c.call_outcome_id)):
            by_customer[c.customer_id].append(c)
        for customer_id, own in by_customer.items():
            row = (
                conn.execute(
                    text(
                        "select campaign, pdays, previous_contacts, previous_outcome from customers "
                        "where customer_id = :c"
                    ),
                    {"c": customer_id},
                )
                .mappings()
                .first()
            )
            if row is None:
                continue  # the harvest records calls of unknown customers
            customer = dict(row)
            before = dict(customer)
            stored = (
                conn.execute(
                    text(
                        "select campaign_name, calls, outcome, last_call_day, last_call_id "
                        "from customer_campaign_state where customer_id = :c"
                    ),
                    {"c": customer_id},
                )
                .mappings()
                .first()
            )
            state = dict(stored) if stored else None
            if state is None:
                loaded = conn.execute(
                    text(
                        "select contact_date, is_subscribed from campaign_contacts where customer_id = :c "
                        "and contact_id < :base order by contact_id desc limit 1"
                    ),
                    {"c": customer_id, "base": HARVEST_ID_BASE},
                ).first()
                state = {
                    "campaign_name": None,  # the file's campaign
                    "calls": int(customer["campaign"] or 0),
                    "outcome": ("success" if loaded.is_subscribed else "failure") if loaded else None,
                    "last_call_day": as_date(loaded.contact_date) if loaded else None,
                    "last_call_id": 0,
                }
            else:
                state["last_call_day"] = as_date(state["last_call_day"])
            for call in own:
                if call.campaign != state["campaign_name"]:
                    _roll_over(customer, state, call.campaign, _start(campaigns, call.campaign, call.day))
                    summary.rolled_over += 1
                customer["campaign"] = int(customer["campaign"] or 0) + 1
                state["calls"] += 1
                if state["outcome"] != "success":
                    state["outcome"] = _OUTCOME.get(call.outcome, state["outcome"])
                state["last_call_day"] = call.day
                state["last_call_id"] = call.call_outcome_id
                summary.calls_counted += 1
            if current and state["campaign_name"] is not None and state["campaign_name"] != current:
                _roll_over(customer, state, current, _start(campaigns, current, today))
                summary.rolled_over += 1
            if state["campaign_name"] is None:
                continue
            if customer != before:
                conn.execute(
                    text(
                        "update customers set campaign = :campaign, pdays = :pdays, "
                        "previous_contacts = :previous_contacts, previous_outcome = :previous_outcome, "
                        "updated_at = :stamp where customer_id = :c"
                    ),
                    {**customer, "stamp": stamp, "c": customer_id},
                )
                summary.customers_updated += 1
            conn.execute(
                text(
                    "insert into customer_campaign_state (customer_id, campaign_name, calls, outcome, last_call_day, "
                    "last_call_id) values (:c, :campaign_name, :calls, :outcome, :last_call_day, :last_call_id) "
                    "on conflict (customer_id) do update set campaign_name = excluded.campaign_name, "
                    "calls = excluded.calls, outcome = excluded.outcome, last_call_day = excluded.last_call_day, "
                    "last_call_id = excluded.last_call_id"
                ),
                {**state, "c": customer_id},
            )
    return summary
