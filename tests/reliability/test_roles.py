"""7: least privilege on PostgreSQL, proven by logging in as each role."""

import dataclasses
import datetime as dt
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, ProgrammingError

from bank_scoring.agents import policy
from bank_scoring.agents.customers import object_to_marketing, set_time_zone
from bank_scoring.agents.users import add_user
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


def test_agent_takes_and_records_leads_as_themselves_and_touches_no_table(users, pg_ready):
    agent, pipeline = users["agent"], users["pipeline"]
    me = agent.url.username  # the agent's PostgreSQL user is their name on the desk
    add_user(pipeline, me, "agent")
    add_user(pipeline, "ana", "agent")
    with pg_ready.begin() as conn:  # calling hours all day: the functions use the server's clock
        policy.save_rules(
            conn, dataclasses.replace(policy.load_rules(conn), window_start_minute=0, window_end_minute=1440)
        )

    top = allowed(agent, "select rank, customer_id, propensity, band from agent_worklist order by rank limit 3").all()
    ranks = [r.rank for r in top]
    assert ranks == sorted(ranks) and len(set(ranks)) == 3 and ranks[0] <= 3  # the night's control group leaves gaps
    lead = allowed(agent, "select * from agent_next_lead()").one()
    assert (lead.agent_id, lead.rank) == (me, ranks[0])
    done = allowed(
        agent, "select * from agent_record_outcome(:c, 'subscribed', null, 'a 12-month deposit')", c=lead.customer_id
    ).one()
    assert (done.claim_id, done.agent_id, done.duplicate) == (lead.claim_id, me, False)

    # Another agent's lead: the wrapper acts for the logged-in agent only.
    theirs = allowed(
        pipeline, "select * from claim_next_lead('ana', cast(now() at time zone 'utc' as timestamp))"
    ).one()
    with pytest.raises(DBAPIError) as refusal:
        allowed(agent, "select * from agent_record_outcome(:c, 'declined', null, null)", c=theirs.customer_id)
    assert refusal.value.orig.sqlstate == "BSA04" and "holds no claim" in str(refusal.value.orig)
    with pytest.raises(DBAPIError) as refusal:
        allowed(agent, "select agent_release(:c)", c=theirs.customer_id)
    assert refusal.value.orig.sqlstate == "BSA04"
    assert allowed(agent, "select * from agent_next_lead()").one().customer_id not in {
        lead.customer_id,
        theirs.customer_id,
    }

    refused(
        agent,
        "insert into call_outcomes (customer_id, score_date, agent_id, outcome) "
        "values (:c, :d, 'agent-1', 'subscribed')",
        c=top[1].customer_id,
        d=dt.date(2026, 11, 27),
    )
    refused(agent, "select * from lead_claims")
    refused(agent, "select * from claim_next_lead(:a, cast(now() as timestamp))", a=me)
    refused(
        agent,
        "select * from record_call_outcome('ana', :c, 'declined', cast(now() as timestamp), null, null)",
        c=theirs.customer_id,
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
    refused(agent, "select * from users")
    refused(agent, "update contact_state set returns_at = null")
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
    # ... and gives the agents the night: its pool, the customers' time zones, an objection.
    with pg_ready.connect() as conn:
        pooled = conn.execute(text("select count(*) from lead_pool where run_id = :r"), {"r": run.run_id}).scalar()
        best = conn.execute(text("select customer_id from lead_pool order by rank limit 1")).scalar()
        control = conn.execute(
            text("select count(*) from lead_assignments where run_id = :r and role = 'control'"), {"r": run.run_id}
        ).scalar()
    assert 0 < control < 300 and pooled + control == 3000  # the control group is never in the pool
    set_time_zone(pipeline, best, "Europe/Madrid")
    object_to_marketing(pipeline, best, "letter to the branch", "branch", dt.datetime(2026, 11, 28, 10))
    refused(
        pipeline,
        "insert into lead_claims (customer_id, agent_id, run_id, score_date, rank, band, propensity, "
        "status, claimed_at, expires_at) values (1, 'x', 1, '2026-11-28', 1, 'A', 0.5, 'open', now(), now())",
    )
    refused(
        pipeline,
        "insert into call_outcomes (customer_id, score_date, agent_id, outcome) "
        "values (1, '2026-11-28', 'x', 'declined')",
    )
    refused(pipeline, "update model_events set reason = 'rewritten'")
    refused(pipeline, "delete from model_events")
    refused(pipeline, "delete from customers")
    with pytest.raises(ProgrammingError, match="must be owner|permission denied"):
        with pipeline.begin() as conn:
            conn.execute(text("drop table customer_scores"))


def test_roles_are_refused_on_sqlite(sqlite_engine):
    with pytest.raises(ValueError, match="PostgreSQL"):
        apply_roles(sqlite_engine)
