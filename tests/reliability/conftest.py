"""Reliability and security: faults are provoked for real against PostgreSQL (and SQLite)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time

import pytest
from sqlalchemy import text
from support import load_synthetic

from bank_scoring.score import score_customers
from bank_scoring.train import train_model

OLD_DAY = dt.date(2026, 11, 27)
DAY = dt.date(2026, 11, 28)


def scalar(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def inflate_customers(engine, copies: int) -> int:
    """Multiply the customers in SQL (fast): copy k gets ids shifted by k * the current maximum."""
    top = scalar(engine, "select max(customer_id) from customers")
    cols = ("age, job, marital, education, has_credit_default, balance, has_housing_loan, has_personal_loan, "
            "contact_channel, campaign, pdays, previous_contacts, previous_outcome")
    with engine.begin() as conn:
        for k in range(1, copies + 1):
            conn.execute(text(f"insert into customers (customer_id, {cols}) "
                              f"select customer_id + :shift, {cols} from customers where customer_id <= :top"),
                         {"shift": k * top, "top": top})
    return scalar(engine, "select count(*) from customers")


@pytest.fixture
def pg_ready(pg_trained):
    """PostgreSQL with 3,000 customers, a champion, and a published run for OLD_DAY."""
    pg_trained.old_run = score_customers(pg_trained, OLD_DAY)
    return pg_trained


@pytest.fixture
def ready(engine, model_dir):
    """Both databases: 3,000 customers, a champion, a published run for OLD_DAY."""
    load_synthetic(engine)
    train_model(engine, model_dir)
    engine.old_run = score_customers(engine, OLD_DAY)
    return engine


def cli(args, db_url, model_dir, extra_env=None, wait=True):
    env = {**os.environ, "BANK_SCORING_DB_URL": db_url, "BANK_SCORING_MODEL_DIR": str(model_dir),
           **(extra_env or {})}
    cmd = [sys.executable, "-m", "bank_scoring.cli", *args]
    if not wait:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def wait_for(predicate, timeout: float = 120, every: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")
