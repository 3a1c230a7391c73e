"""What an agent sees of a lead: the customer, the score and its reasons, the calls so far."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, text

from bank_scoring.agents import errors

_CUSTOMER = (
    "customer_id, age, job, marital, education, balance, has_housing_loan, has_personal_loan, "
    "contact_channel, previous_contacts, previous_outcome, pdays, time_zone"
)


def lead_details(engine: Engine, customer_id: int, run_id: int | None = None, history: int = 10) -> dict:
    """The customer's attributes, their score in ``run_id`` (or their latest) with its three
    reasons, and their last ``history`` calls, newest first."""
    with engine.connect() as conn:
        customer = (
            conn.execute(text(f"select {_CUSTOMER} from customers where customer_id = :c"), {"c": int(customer_id)})
            .mappings()
            .first()
        )
        if customer is None:
            raise errors.UnknownCustomer(f"no customer {customer_id}")
        score = (
            conn.execute(
                text(
                    "select sc.run_id, sc.score_date, sc.rank, sc.band, sc.propensity, sc.model_version, "
                    "r.reason_1, r.reason_2, r.reason_3 from customer_scores as sc "
                    "left join score_reasons as r on r.run_id = sc.run_id and r.customer_id = sc.customer_id "
                    "where sc.customer_id = :c "
                    + ("and sc.run_id = :r " if run_id else "")
                    + "order by sc.score_date desc, sc.run_id desc limit 1"
                ),
                {"c": int(customer_id), **({"r": run_id} if run_id else {})},
            )
            .mappings()
            .first()
        )
        calls = (
            conn.execute(
                text(
                    "select called_at, agent_id, outcome, callback_at, notes from call_outcomes "
                    "where customer_id = :c order by called_at desc, call_outcome_id desc limit :n"
                ),
                {"c": int(customer_id), "n": history},
            )
            .mappings()
            .all()
        )
    found = dict(customer)
    found["score"] = dict(score) if score else None
    found["reasons"] = [score[k] for k in ("reason_1", "reason_2", "reason_3") if score and score[k]]
    found["calls"] = [dict(c) for c in calls]
    return found


def jsonable(value):
    """Dates and datetimes as ISO text, recursively, for ``--json`` and the API."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value
