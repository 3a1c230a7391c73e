"""`bank-scoring harvest` as the nightly task runs it: twice, the second finds nothing new."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from support import DAY, at

from bank_scoring.agents.claims import next_lead, record_outcome

from .test_harvest import add_campaign, one


def run(db_url, *args):
    env = {**os.environ, "BANK_SCORING_DB_URL": db_url}
    return subprocess.run(
        [sys.executable, "-m", "bank_scoring.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_harvest_command_adds_rows_once_and_counts_the_calls(night, night_url):
    add_campaign(night)
    lead = next_lead(night, "ana", at(10))
    record_outcome(night, "ana", lead.customer_id, "subscribed", at(10, 5))
    before = one(night, "select campaign from customers where customer_id = :c", c=lead.customer_id)

    first = run(night_url, "harvest", "--at", f"{DAY} 20:00", "--json")
    assert first.returncode == 0, first.stderr
    found = json.loads(first.stdout)
    assert found["harvest"]["rows_added"] == 1
    assert found["roll"]["calls_counted"] == 1
    assert one(night, "select campaign from customers where customer_id = :c", c=lead.customer_id) == 1
    assert before is not None

    second = run(night_url, "harvest", "--at", f"{DAY} 21:00")
    assert second.returncode == 0, second.stderr
    assert "0 training row(s) added" in second.stdout
    assert one(night, "select count(*) from campaign_contacts where call_outcome_id is not null") == 1
