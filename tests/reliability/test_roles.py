"""7: least privilege on PostgreSQL, proven by logging in as each role."""

import datetime as dt
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from bank_scoring.db import apply_roles, init_db, make_db_engine
from bank_scoring.scoring import score_customers

from .conftest import DAY

ROLES_LOCK = 727001  # advisory lock key: the group roles are cluster-wide, made by one test at a time


@pytest.fixture
def users(pg_ready, pg_admin_url):
    """One log-in user per group role; dropped afterwards (roles are cluster-wide)."""
    admin = make_db_engine(pg_admin_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:  # tests running in parallel (pytest -n) create the group roles in turn
        conn.execute(text("select pg_advisory_lock(:k)"), {"k": ROLES_LOCK})
        try:
            apply_roles(pg_ready)
            apply_roles(pg_ready)  # safe to run again
            init_db(pg_ready)  # re-running the schema keeps the views' grants
        finally:
            conn.execute(text("select pg_advisory_unlock(:k)"), {"k": ROLES_LOCK})
    suffix = uuid.uuid4().hex[:8]
    made = {}
    with admin.connect() as conn:
        for kind in ("pipeline", "agent", "analyst"):
            name = f"bs_{kind}_{suffix}"
            conn.execute(text(f"create user {name} login password 'x-{suffix}' in role bank_scoring_{kind}"))
            made[kind] = name
    base = pg_ready.url
    engines = {
        k: make_db_engine(base.set(username=u, password=f"x-{suffix}").render_as_string(hide_password=False))
        for k, u in made.items()
    }
    yield engines
    for eng in engines.values():
        eng.dispose()
    with admin.connect() as conn:
        for name in made.values():
            conn.execute(text(f"select pg_terminate_backend(pid) from pg_stat_activity where usename = '{name}'"))
            conn.execute(text(f"drop user {name}"))
    admin.dispose()


def allowed(engine, sql, **params):
    with engine.begin() as conn:
        return conn.execute(text(sql), params)


def refused(engine, sql, **params):
    with pytest.raises(ProgrammingError, match="permission denied"):
        with engine.begin() as conn:
            conn.execute(text(sql), params)


def test_agent_reads_the_worklist_records_outcomes_and_nothing_else(users):
    agent = users["agent"]
    top = allowed(agent, "select rank, customer_id, propensity, band from agent_worklist order by rank limit 3").all()
    assert [r.rank for r in top] == [1, 2, 3]
    allowed(
        agent,
        "insert into call_outcomes (customer_id, score_date, agent_id, outcome) "
        "values (:c, :d, 'agent-1', 'subscribed')",
        c=top[0].customer_id,
        d=dt.date(2026, 11, 27),
    )
    refused(agent, "update customer_scores set propensity = 1 where customer_id = :c", c=top[1].customer_id)
    refused(agent, "delete from customer_scores")
    refused(agent, "select * from model_versions")
    refused(agent, "select * from model_events")
    refused(agent, "select customer_id, balance, education, has_credit_default from customers")
    refused(agent, "select * from customer_scores")
    refused(agent, "select * from published_leads")
    refused(agent, "select * from call_outcomes")
    refused(agent, "delete from call_outcomes")
    refused(
        agent,
        "insert into scoring_runs (run_id, score_date, model_version, status, partitions) "
        "values (99, '2026-01-01', 1, 'published', 1)",
    )


def test_analyst_reads_everything_and_changes_nothing(users):
    analyst = users["analyst"]
    for table in (
        "customers",
        "campaign_contacts",
        "model_versions",
        "model_events",
        "scoring_runs",
        "customer_scores",
        "scoring_rejects",
        "call_outcomes",
        "agent_worklist",
    ):
        allowed(analyst, f"select count(*) from {table}")
    refused(analyst, "update customers set balance = 0")
    refused(analyst, "delete from customer_scores")
    refused(
        analyst,
        "insert into call_outcomes (customer_id, score_date, agent_id, outcome) "
        "values (1, '2026-11-27', 'a', 'declined')",
    )


def test_pipeline_scores_and_publishes_but_cannot_rewrite_history_or_schema(users, pg_ready):
    pipeline = users["pipeline"]
    run = score_customers(pipeline, DAY)
    assert run.status == "published" and run.customers_scored == 3000
    refused(pipeline, "update model_events set reason = 'rewritten'")
    refused(pipeline, "delete from model_events")
    refused(pipeline, "delete from customers")
    with pytest.raises(ProgrammingError, match="must be owner|permission denied"):
        with pipeline.begin() as conn:
            conn.execute(text("drop table customer_scores"))


def test_roles_are_refused_on_sqlite(sqlite_engine):
    with pytest.raises(ValueError, match="PostgreSQL"):
        apply_roles(sqlite_engine)
