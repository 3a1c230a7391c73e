import datetime as dt

import pytest
from sqlalchemy import text

from bank_scoring.score import score_customers
from bank_scoring.train import train_model
from bank_scoring.worklist import fetch_worklist, format_worklist

DAY = dt.date(2026, 11, 28)


@pytest.fixture
def scored(loaded_engine, model_dir):
    train_model(loaded_engine, model_dir)
    score_customers(loaded_engine, DAY)
    return loaded_engine


def test_best_leads_first_with_what_an_agent_needs(scored):
    frame = fetch_worklist(scored, limit=20)
    assert list(frame["rank"]) == list(range(1, 21))
    assert frame["propensity"].is_monotonic_decreasing
    assert {"job", "balance", "contact_channel", "previous_outcome", "band"} <= set(frame.columns)
    text_table = format_worklist(frame)
    assert "propensity" in text_table and "%" in text_table


def test_do_not_call_and_already_called_customers_leave_the_list(scored):
    top = fetch_worklist(scored, limit=3)
    first, second = int(top["customer_id"][0]), int(top["customer_id"][1])
    with scored.begin() as conn:
        conn.execute(text("update customers set is_do_not_call = true where customer_id = :c"), {"c": first})
        conn.execute(text("insert into call_outcomes (customer_id, score_date, agent_id, outcome) "
                          "values (:c, :d, 'agent7', 'declined')"), {"c": second, "d": DAY})
    after = fetch_worklist(scored, limit=3)
    assert first not in set(after["customer_id"]) and second not in set(after["customer_id"])


def test_band_and_date_filters(scored):
    assert set(fetch_worklist(scored, band="B", limit=5000)["band"]) == {"B"}
    assert len(fetch_worklist(scored, band="A", limit=5000)) == 300
    assert fetch_worklist(scored, score_date=DAY - dt.timedelta(days=9)).empty


@pytest.mark.parametrize("evil", ["A' or '1'='1", "A; drop table customer_scores; --"])
def test_injection_strings_are_refused_and_change_nothing(scored, evil):
    with pytest.raises(ValueError, match="band must be one of"):
        fetch_worklist(scored, band=evil)
    with scored.connect() as conn:
        assert conn.execute(text("select count(*) from customer_scores")).scalar() == 3000
