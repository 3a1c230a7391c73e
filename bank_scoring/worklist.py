"""The agents' worklist: best leads first, with what an agent needs to make the call."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Engine, text

from bank_scoring.constants import BAND_NAMES

WORKLIST_COLUMNS = (
    "rank",
    "customer_id",
    "propensity",
    "band",
    "age",
    "job",
    "marital",
    "education",
    "balance",
    "has_housing_loan",
    "has_personal_loan",
    "contact_channel",
    "previous_contacts",
    "previous_outcome",
    "days_since_previous_contact",
    "score_date",
    "model_version",
    "reason_1",
    "reason_2",
    "reason_3",
)


def fetch_worklist(
    engine: Engine, score_date: dt.date | None = None, limit: int = 20, band: str | None = None, offset: int = 0
) -> pd.DataFrame:
    """Rows of the latest published run (``agent_worklist``), or of a given published date.

    Every filter is a bound parameter, never text pasted into the SQL.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if band is not None and band not in BAND_NAMES:
        raise ValueError(f"band must be one of {', '.join(BAND_NAMES)}, got {band!r}")
    source = "published_leads" if score_date else "agent_worklist"
    if offset < 0:
        raise ValueError("offset must be at least 0")
    clauses, params = [], {"limit": limit, "offset": offset}
    if score_date:
        clauses.append("score_date = :d")
        params["d"] = score_date
    if band:
        clauses.append("band = :band")
        params["band"] = band
    where = f" where {' and '.join(clauses)}" if clauses else ""
    sql = f"select {', '.join(WORKLIST_COLUMNS)} from {source}{where} order by rank limit :limit offset :offset"
    with engine.connect() as conn:
        return pd.read_sql_query(text(sql), conn, params=params)


def _yes_no(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "?"
    return "yes" if bool(value) else "no"


def format_worklist(frame: pd.DataFrame) -> str:
    """A fixed-width table for a terminal or a morning e-mail."""
    if frame.empty:
        return "(no published scores: run `bank-scoring score --date YYYY-MM-DD` first)"
    shown = pd.DataFrame(
        {
            "rank": frame["rank"],
            "customer": frame["customer_id"],
            "propensity": (frame["propensity"] * 100).map(lambda p: f"{p:5.1f}%"),
            "band": frame["band"],
            "age": frame["age"],
            "job": frame["job"],
            "marital": frame["marital"],
            "balance": frame["balance"].map(lambda b: f"{int(b):,}"),
            "housing": frame["has_housing_loan"].map(_yes_no),
            "loan": frame["has_personal_loan"].map(_yes_no),
            "channel": frame["contact_channel"],
            "last campaign": frame["previous_outcome"],
            "why (strongest first)": [
                "; ".join(r for r in reasons if isinstance(r, str) and r) or "-"
                for reasons in zip(frame["reason_1"], frame["reason_2"], frame["reason_3"], strict=True)
            ],
        }
    )
    why = shown.pop("why (strongest first)")  # text reads best left-aligned, after the figures
    width = max(len("why (strongest first)"), *(len(w) for w in why))
    lines = shown.to_string(index=False).splitlines()
    return "\n".join(
        f"{line}  {text_:<{width}}".rstrip() for line, text_ in zip(lines, ["why (strongest first)", *why], strict=True)
    )
