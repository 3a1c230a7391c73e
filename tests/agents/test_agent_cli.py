"""`bank-scoring agent|customers|users|campaigns` and `worklist --preview`, as a user runs them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from support import copy_template

from bank_scoring.db import make_db_engine

from .conftest import scalar


@pytest.fixture
def db(night_sqlite_template, tmp_path, model_dir):
    return copy_template(night_sqlite_template, model_dir, tmp_path / "bank.db")


def run(db_url, *args, stdin=None):
    env = {**os.environ, "BANK_SCORING_DB_URL": db_url}
    return subprocess.run(
        [sys.executable, "-m", "bank_scoring.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
    )


def test_an_agent_takes_records_and_a_team_lead_sees_the_figures(db):
    taken = run(db, "agent", "next", "--agent", "ana", "--at", "2026-11-28 10:00", "--json")
    assert taken.returncode == 0, taken.stderr
    lead = json.loads(taken.stdout)
    customer = lead["lead"]["customer_id"]
    assert lead["lead"]["rank"] == 1 and lead["customer"]["job"] and len(lead["customer"]["reasons"]) == 3
    again = run(db, "agent", "next", "--agent", "ana", "--at", "2026-11-28 10:01")
    assert again.returncode == 2 and "record or release" in again.stderr
    done = run(
        db,
        "agent",
        "record",
        str(customer),
        "--agent",
        "ana",
        "--outcome",
        "subscribed",
        "--at",
        "2026-11-28 10:04",
        "--notes",
        "12 months",
    )
    assert done.returncode == 0 and "recorded subscribed" in done.stdout
    figures = run(db, "agent", "figures", "--date", "2026-11-28", "--json")
    found = json.loads(figures.stdout)
    assert found["total"]["calls"] == 1 and found["total"]["subscriptions"] == 1
    assert found["by_agent"][0]["agent_id"] == "ana"
    assert 0 < found["total"]["expected_subscriptions"] < 1
    preview = run(db, "worklist", "--preview", "--at", "2026-11-28 10:05")
    assert preview.returncode == 0 and "of 3,000 customers callable" in preview.stdout
    callable_ = int(re.search(r"([\d,]+) of 3,000 customers callable", preview.stdout)[1].replace(",", ""))
    control = int(re.search(r"held back by control group +([\d,]+)", preview.stdout)[1].replace(",", ""))
    assert re.search(r"held back by subscribed +1\n", preview.stdout)
    assert callable_ + control + 1 == 3000 and control > 0  # the control group is never called


@pytest.mark.parametrize(
    "args, message",
    [
        (("agent", "next", "--agent", "nobody"), "no active agent 'nobody'"),
        (("agent", "record", "42", "--agent", "ana", "--outcome", "maybe"), "outcome must be one of"),
        (("agent", "record", "42", "--agent", "ana", "--outcome", "declined"), "holds no claim"),
        (("agent", "record", "9999999", "--agent", "ana", "--outcome", "declined"), "no customer 9999999"),
        (
            ("agent", "record", "42", "--agent", "ana", "--outcome", "call_back", "--callback-at", "2020-01-01 10:00"),
            "not in the future",
        ),
        (("agent", "release", "42", "--agent", "ana"), "no open claim"),
        (("customers", "time-zone", "42", "Atlantis/Capital"), "not a time zone"),
        (("customers", "object", "9999999", "--reason", "letter"), "no customer"),
        (("users", "add", "x y", "--role", "agent", "--no-password"), "user name"),
    ],
)
def test_bad_input_exits_2_naming_what_is_wrong(db, args, message):
    before = scalar(make_db_engine(db), "select count(*) from call_outcomes")
    done = run(db, *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert scalar(make_db_engine(db), "select count(*) from call_outcomes") == before


def test_objection_and_users_from_the_command_line(db):
    done = run(db, "customers", "object", "42", "--reason", "GDPR Art. 21 by e-mail", "--source", "crm")
    assert done.returncode == 0, done.stderr
    engine = make_db_engine(db)
    assert scalar(engine, "select has_objected from customers where customer_id = 42")
    added = run(db, "users", "add", "carla", "--role", "agent", "--password-stdin", stdin="long-enough-pw\n")
    assert added.returncode == 0 and "desk login yes" in added.stdout
    stored = scalar(engine, "select password_hash from users where user_name = 'carla'")
    assert stored.startswith("scrypt$") and "long-enough-pw" not in stored
    assert "carla" in run(db, "users", "list").stdout
    assert run(db, "users", "add", "dan", "--role", "agent").returncode == 2  # no terminal for a prompt


def test_every_agent_command_has_help(db):
    for args in (
        ("agent", "next"),
        ("agent", "record"),
        ("agent", "release"),
        ("agent", "figures"),
        ("agent", "refill"),
        ("customers", "object"),
        ("customers", "time-zone"),
        ("users", "add"),
        ("users", "list"),
        ("campaigns", "add"),
        ("campaigns", "list"),
    ):
        done = run(db, *args, "--help")
        assert done.returncode == 0 and "usage: bank-scoring" in done.stdout, args
