"""The team lead's day: calls, contacts and subscriptions beside the expected, per band and agent."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from bank_scoring.agents.claims import next_lead, record_outcome
from bank_scoring.agents.figures import day_figures, format_figures

from .conftest import DAY, at


def test_figures_count_each_call_and_sum_the_called_leads_propensities(night):
    plan = [("ana", "subscribed"), ("ben", "no_answer"), ("ana", "declined"), ("ben", "subscribed")]
    leads = []
    for minute, (agent, outcome) in enumerate(plan):
        lead = next_lead(night, agent, at(10, minute))
        record_outcome(night, agent, lead.customer_id, outcome, at(10, minute))
        leads.append(lead)
    found = day_figures(night, DAY)
    total = found["total"]
    assert (total["calls"], total["contacts"], total["subscriptions"]) == (4, 3, 2)
    assert total["expected_subscriptions"] == pytest.approx(sum(lead.propensity for lead in leads), abs=0.01)
    agents = {row["agent_id"]: row for row in found["by_agent"]}
    assert (agents["ana"]["calls"], agents["ana"]["subscriptions"]) == (2, 1)
    assert agents["ben"]["contacts"] == 1
    assert {row["band"] for row in found["by_band"]} == {lead.band for lead in leads}
    for row in found["by_band"]:
        assert row["expected_low"] <= row["expected_subscriptions"] <= row["expected_high"]
    assert "by band" in format_figures(found) and "ana" in format_figures(found)
    with night.connect() as conn:  # the SQL view says the same (UTC days; Lisbon is UTC in November)
        view = conn.execute(
            text("select sum(calls), sum(contacts), sum(subscriptions), sum(expected_subscriptions) from call_figures")
        ).one()
    assert tuple(view[:3]) == (4, 3, 2) and float(view[3]) == pytest.approx(total["expected_subscriptions"], abs=0.01)
    assert day_figures(night, DAY.replace(day=1))["total"]["calls"] == 0


def test_a_day_far_from_the_expected_raises_the_alert(night):
    for minute in range(16):  # sixteen top leads, none subscribes: far below the expected
        lead = next_lead(night, "ana", at(11, minute))
        record_outcome(night, "ana", lead.customer_id, "declined", at(11, minute))
    found = day_figures(night, DAY)
    assert found["total"]["expected_subscriptions"] > 4
    assert found["alert"] and "off in the field" in found["alert"]
