import datetime as dt

import pytest
from sqlalchemy import text
from support import night_ranks

from bank_scoring.scoring import score_customers
from bank_scoring.worklist import fetch_worklist, format_worklist

DAY = dt.date(2026, 11, 28)


@pytest.fixture
def scored(trained_engine):
    """3,000 customers scored for DAY by the session's trained champion."""
    score_customers(trained_engine, DAY)
    return trained_engine


def test_best_leads_first_with_what_an_agent_needs(scored):
    frame = fetch_worklist(scored, limit=20)
    assert list(frame["rank"]) == night_ranks(scored, DAY)[:20]
    assert frame["propensity"].is_monotonic_decreasing
    assert {"job", "balance", "contact_channel", "previous_outcome", "band"} <= set(frame.columns)
    text_table = format_worklist(frame)
    assert "propensity" in text_table and "%" in text_table


def test_do_not_call_and_already_called_customers_leave_the_list(scored):
    top = fetch_worklist(scored, limit=3)
    first, second = int(top["customer_id"][0]), int(top["customer_id"][1])
    with scored.begin() as conn:
        conn.execute(text("update customers set is_do_not_call = true where customer_id = :c"), {"c": first})
        conn.execute(
            text(
                "insert into call_outcomes (customer_id, score_date, agent_id, outcome) "
                "values (:c, :d, 'agent7', 'declined')"
            ),
            {"c": second, "d": DAY},
        )
    after = fetch_worklist(scored, limit=3)
    assert first not in set(after["customer_id"]) and second not in set(after["customer_id"])


def test_band_and_date_filters(scored):
    assert set(fetch_worklist(scored, band="B", limit=5000)["band"]) == {"B"}
    control = set(night_ranks(scored, DAY, control=True))
    assert len(fetch_worklist(scored, band="A", limit=5000)) == 300 - len(control & set(range(1, 301)))
    assert fetch_worklist(scored, score_date=DAY - dt.timedelta(days=9)).empty


def test_the_control_group_is_never_listed(scored):
    """Control customers are never handed out (loop/control.py), so the worklist leaves them out
    too: a printed list would otherwise send agents to them."""
    control = night_ranks(scored, DAY, control=True)
    assert 0 < len(control) < 300  # 5% of 3,000 customers, by default
    listed = fetch_worklist(scored, limit=5000)
    assert len(listed) == 3000 - len(control) and set(listed["rank"]).isdisjoint(control)
    assert fetch_worklist(scored, score_date=DAY, limit=5000)["rank"].tolist() == listed["rank"].tolist()


@pytest.mark.parametrize("evil", ["A' or '1'='1", "A; drop table customer_scores; --"])
def test_injection_strings_are_refused_and_change_nothing(scored, evil):
    with pytest.raises(ValueError, match="band must be one of"):
        fetch_worklist(scored, band=evil)
    with scored.connect() as conn:
        assert conn.execute(text("select count(*) from customer_scores")).scalar() == 3000


def test_top_customers_carry_three_reasons_in_plain_words(trained_engine):
    from bank_scoring import registry
    from bank_scoring.explain import FACTORS, describe

    run = score_customers(trained_engine, DAY, reason_rows=50)
    frame = fetch_worklist(trained_engine, limit=60)
    top, rest = frame[frame["rank"] <= 50], frame[frame["rank"] > 50]  # the best 50 ranks, control left out
    assert len(top) >= 40 and len(rest) > 0
    assert top["reason_1"].notna().all()
    assert rest[["reason_1", "reason_2", "reason_3"]].isna().all().all()  # only the top is explained
    # each reason is one of the phrases describe() makes for that customer's own values
    model = registry.load_model(registry.require_champion(trained_engine))
    with trained_engine.connect() as conn:
        customers = {r.customer_id: r._mapping for r in conn.execute(text("select * from customers"))}
    for row in top.itertuples():
        customer = customers[row.customer_id]
        # ... as scored tonight, where campaign counts the call about to be made
        scored = {**customer, "campaign": customer["campaign"] + 1}
        own = {describe(f, scored[f]) for f in FACTORS}
        reasons = [r for r in (row.reason_1, row.reason_2, row.reason_3) if isinstance(r, str)]
        assert reasons and set(reasons) <= own, (reasons, own)
    # the typical customer the reasons are measured against travels inside the model's bundle
    assert set(model.reference_values) == set(FACTORS) and run.status == "published"
    printed = format_worklist(frame.head(5))
    assert "why (strongest first)" in printed and frame["reason_1"].iloc[0] in printed
