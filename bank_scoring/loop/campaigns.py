"""The campaigns table (name, start, end) as the harvest and the roll-over read it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text

from bank_scoring.db import as_date


class Campaigns:
    """The campaigns table in memory: which campaign a day falls in, and whether it has ended."""

    def __init__(self, conn) -> None:
        rows = conn.execute(text("select campaign_name, starts_on, ends_on from campaigns")).all()
        # policy.current_campaign's order: the latest started, then by name.
        self.rows = sorted(
            ((as_date(r.starts_on), r.campaign_name, as_date(r.ends_on)) for r in rows),
            key=lambda r: (-r[0].toordinal(), r[1]),
        )

    def at(self, day: dt.date) -> str:
        for starts, name, ends in self.rows:
            if starts <= day and (ends is None or ends >= day):
                return name
        return ""

    def ended(self, name: str, today: dt.date) -> bool:
        return any(n == name and ends is not None and ends < today for _, n, ends in self.rows)
