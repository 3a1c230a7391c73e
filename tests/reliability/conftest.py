"""Reliability and security: faults are provoked for real against PostgreSQL (and SQLite).

Most tests start from a night already published: a session template per database (the
trained template plus a published run for OLD_DAY), copied for each test like the trained ones.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time

import pytest
from sqlalchemy import text
from support import Template, copy_template, drop_pg_database

from bank_scoring.db import make_db_engine
from bank_scoring.scoring import get_run, score_customers

OLD_DAY = dt.date(2026, 11, 27)
DAY = dt.date(2026, 11, 28)


def scalar(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def control_of(engine, run_id: int) -> int:
    """How many of a run's customers are its control group (never listed, never handed out)."""
    return scalar(engine, "select count(*) from lead_assignments where run_id = :r and role = 'control'", r=run_id)


def inflate_customers(engine, copies: int) -> int:
    """Multiply the customers in SQL (fast): copy k gets ids shifted by k * the current maximum."""
    top = scalar(engine, "select max(customer_id) from customers")
    cols = (
        "age, job, marital, education, has_credit_default, balance, has_housing_loan, has_personal_loan, "
        "contact_channel, campaign, pdays, previous_contacts, previous_outcome"
    )
    with engine.begin() as conn:
        for k in range(1, copies + 1):
            conn.execute(
                text(
                    f"insert into customers (customer_id, {cols}) "
                    f"select customer_id + :shift, {cols} from customers where customer_id <= :top"
                ),
                {"shift": k * top, "top": top},
            )
    return scalar(engine, "select count(*) from customers")


def _publish_old_day(url: str) -> None:
    engine = make_db_engine(url)
    try:
        score_customers(engine, OLD_DAY)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def published_sqlite_template(trained_sqlite_template, tmp_path_factory) -> Template:
    root = tmp_path_factory.mktemp("published_sqlite")
    url = copy_template(trained_sqlite_template, root / "models", root / "bank.db")
    _publish_old_day(url)
    return Template(url, root / "models")


@pytest.fixture(scope="session")
def published_pg_template(trained_pg_template, tmp_path_factory):
    root = tmp_path_factory.mktemp("published_pg")
    url = copy_template(trained_pg_template, root / "models")
    try:
        _publish_old_day(url)
        yield Template(url, root / "models", trained_pg_template.admin_url)
    finally:
        drop_pg_database(trained_pg_template.admin_url, url)


@pytest.fixture
def pg_ready_url(published_pg_template, model_dir):
    """The test's own PostgreSQL copy of the published template, models in ``model_dir``; dropped after."""
    url = copy_template(published_pg_template, model_dir)
    yield url
    drop_pg_database(published_pg_template.admin_url, url)


@pytest.fixture(params=["sqlite", "postgresql"])
def ready_url(request, tmp_path, model_dir) -> str:
    """A copy of the published template; the test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return copy_template(request.getfixturevalue("published_sqlite_template"), model_dir, tmp_path / "bank.db")
    return request.getfixturevalue("pg_ready_url")


def _ready_engine(url: str):
    engine = make_db_engine(url)
    engine.old_run = get_run(engine, scalar(engine, "select max(run_id) from scoring_runs"))
    return engine


@pytest.fixture
def ready(ready_url):
    """Both databases (``ready_url``): 3,000 customers, a champion, a published run for OLD_DAY (``.old_run``)."""
    engine = _ready_engine(ready_url)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_ready(pg_ready_url):
    """PostgreSQL with 3,000 customers, a champion, and a published run for OLD_DAY (``.old_run``)."""
    engine = _ready_engine(pg_ready_url)
    yield engine
    engine.dispose()


def cli(args, db_url, model_dir, extra_env=None, wait=True):
    env = {**os.environ, "BANK_SCORING_DB_URL": db_url, "BANK_SCORING_MODEL_DIR": str(model_dir), **(extra_env or {})}
    cmd = [sys.executable, "-m", "bank_scoring.cli", *args]
    if not wait:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def wait_for(predicate, timeout: float = 300, every: float = 0.05, what: str = "condition"):
    """Poll another process's progress (a row count, a lock wait) until ``predicate()`` holds.

    Tests wait for a state, never for a time; the deadline only ends a test that hangs.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")
