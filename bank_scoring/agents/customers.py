"""What a customer asks of the bank about being called: objections and their time zone."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, literal_column, select, table, text

from bank_scoring.agents import errors
from bank_scoring.config import check_time_zone


def object_to_marketing(engine: Engine, customer_id: int, reason: str, source: str, now: dt.datetime) -> int:
    """Record the customer's objection to direct marketing and to profiling for it.

    In one transaction: the customer is flagged (``has_objected`` and ``is_do_not_call``),
    leaves tonight's pool, any open claim on them is closed (the agent cannot record a
    call from it), and the objection is kept with its reason and source. From the next
    night on the customer is not scored (counted as suppressed on the run). Recording it
    again is harmless. Returns the objection's id.
    """
    reason = (reason or "").strip()
    if not reason:
        raise errors.BadOutcome("an objection needs a reason (what the customer asked, where)")
    with engine.begin() as conn:
        # The row lock waits for a claim being written for this customer (its foreign key
        # holds a share lock on the row) and holds back new ones until this commits.
        found = conn.execute(
            select(literal_column("1"))
            .select_from(table("customers"))
            .where(literal_column("customer_id") == int(customer_id))
            .with_for_update()
        ).first()
        if found is None:
            raise errors.UnknownCustomer(f"no customer {customer_id}")
        conn.execute(
            text("update customers set has_objected = true, is_do_not_call = true where customer_id = :c"),
            {"c": int(customer_id)},
        )
        conn.execute(
            text(
                "update lead_claims set status = 'released', closed_at = :now "
                "where customer_id = :c and status = 'open'"
            ),
            {"c": int(customer_id), "now": now},
        )
        conn.execute(text("delete from lead_pool where customer_id = :c"), {"c": int(customer_id)})
        return int(
            conn.execute(
                text(
                    "insert into customer_objections (customer_id, kind, reason, source, recorded_at) "
                    "values (:c, 'objection', :r, :s, :now) returning objection_id"
                ),
                {"c": int(customer_id), "r": reason[:2000], "s": source[:200], "now": now},
            ).scalar_one()
        )


def set_time_zone(engine: Engine, customer_id: int, zone: str | None) -> None:
    """Set the customer's time zone for calling hours (None: the centre's)."""
    if zone is not None:
        check_time_zone(zone, "time zone")
    with engine.begin() as conn:
        changed = conn.execute(
            text("update customers set time_zone = :z where customer_id = :c"), {"z": zone, "c": int(customer_id)}
        ).rowcount
        if not changed:
            raise errors.UnknownCustomer(f"no customer {customer_id}")
        if zone is not None:
            conn.execute(
                text(
                    "insert into customer_time_zones (time_zone, is_valid) values (:z, true) "
                    "on conflict (time_zone) do update set is_valid = true"
                ),
                {"z": zone},
            )
