"""The night's pool after a refill, on both databases: every callable lead, nobody else."""

from __future__ import annotations

from sqlalchemy import inspect, text

from bank_scoring.agents import pool
from bank_scoring.agents.claims import next_lead, record_outcome
from bank_scoring.agents.customers import object_to_marketing

from .conftest import at, scalar


def ids(engine, sql, **params) -> set[int]:
    with engine.connect() as conn:
        return {int(r[0]) for r in conn.execute(text(sql), params)}


def test_a_refill_holds_every_callable_lead_once_and_keeps_the_pools_indexes(night):
    run_id = scalar(night, "select max(run_id) from scoring_runs where status = 'published'")
    held = next_lead(night, "ana", at(10)).customer_id
    declined = next_lead(night, "ben", at(10)).customer_id
    record_outcome(night, "ben", declined, "declined", at(10, 1))
    unanswered = next_lead(night, "ben", at(10, 2)).customer_id
    record_outcome(night, "ben", unanswered, "no_answer", at(10, 3))
    do_not_call = next_lead(night, "ben", at(10, 4)).customer_id
    record_outcome(night, "ben", do_not_call, "do_not_call", at(10, 5))
    objected = scalar(night, "select customer_id from lead_pool order by rank limit 1")
    object_to_marketing(night, objected, "letter", "branch", at(10, 6))

    pool.refill(night, run_id, at(10, 7), control_share=0.05, exploration_share=0.0)

    scored = ids(night, "select customer_id from customer_scores where run_id = :r", r=run_id)
    control = ids(night, "select customer_id from lead_assignments where run_id = :r and role = 'control'", r=run_id)
    left_out = {held, declined, unanswered, do_not_call, objected}
    pooled = ids(night, "select customer_id from lead_pool")
    assert pooled == scored - left_out - control
    assert scalar(night, "select count(*) from lead_pool") == len(pooled)  # once each
    ranks = ids(night, "select rank from lead_pool")
    assert ranks == ids(
        night,
        "select rank from customer_scores where run_id = :r and customer_id in (select customer_id from lead_pool)",
        r=run_id,
    )
    # The refill builds the customer index and the key after the insert: both are back.
    found = inspect(night)
    assert [i["column_names"] for i in found.get_indexes("lead_pool") if i["name"] == "lead_pool_customer"] == [
        ["customer_id"]
    ]
    assert found.get_pk_constraint("lead_pool")["constrained_columns"] == ["run_id", "rank"]
    # And claims go on from it, best first.
    best = scalar(night, "select customer_id from lead_pool order by rank limit 1")
    assert next_lead(night, "ben", at(10, 8)).customer_id == best
