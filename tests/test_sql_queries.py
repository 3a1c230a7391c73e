"""The agents' queries in sql/agent_queries.sql run as written on both databases."""

import datetime as dt

from sqlalchemy import text
from support import night_ranks

from bank_scoring.db import SQL_DIR, split_sql
from bank_scoring.scoring import score_customers


def test_agent_queries_run(trained_engine):
    day = dt.date(2026, 11, 28)
    score_customers(trained_engine, day)
    worklist, band, record, conversion = split_sql((SQL_DIR / "agent_queries.sql").read_text())
    # the night's ranks, best first, but its control group (never listed, never handed out)
    listed = night_ranks(trained_engine, day)
    assert 2700 < len(listed) < 3000
    with trained_engine.begin() as conn:
        top = conn.execute(text(worklist), {"limit": 5}).all()
        assert [r.rank for r in top] == listed[:5]
        hot = conn.execute(text(band), {"band": "A", "limit": 50}).all()
        assert len(hot) == 50 and [r.rank for r in hot] == listed[:50]  # band A holds the best 300 ranks
        conn.execute(
            text(record),
            {
                "customer_id": top[0].customer_id,
                "score_date": day,
                "agent_id": "a1",
                "outcome": "subscribed",
                "notes": None,
            },
        )
        assert conn.execute(text(worklist), {"limit": 1}).one().rank == listed[1]
        rows = conn.execute(text(conversion), {"score_date": day}).all()
        assert [(r.band, r.calls, r.subscribed) for r in rows] == [("A", 1, 1)]
