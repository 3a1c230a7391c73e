"""The team lead's figures for a day: calls, contacts and subscriptions beside the expected.

Expected subscriptions are the sum of the called leads' propensities (each customer once
per band or agent): if the model is calibrated, actual subscriptions land near it. The
interval is the Poisson-binomial spread of that sum (two standard deviations).
"""

from __future__ import annotations

import datetime as dt
import math
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, text

from bank_scoring.agents import policy

# Below this many calls in a day the interval says little: no alert.
MIN_CALLS_FOR_ALERT = 10


def _day_bounds(engine: Engine, day: dt.date) -> tuple[dt.datetime, dt.datetime, str]:
    with engine.connect() as conn:
        zone = policy.load_rules(conn).centre_time_zone
    start = dt.datetime.combine(day, dt.time()).replace(tzinfo=ZoneInfo(zone))
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time()).replace(tzinfo=ZoneInfo(zone))
    utc = [t.astimezone(dt.UTC).replace(tzinfo=None) for t in (start, end)]
    return utc[0], utc[1], zone


def _grouped(engine: Engine, key: str, start: dt.datetime, end: dt.datetime) -> list[dict]:
    """Per ``key`` (band or agent_id): calls, contacts, subscriptions, expected and its spread."""
    sql = f"""
        with calls as (
            select coalesce(band, '-') as band, agent_id, customer_id, outcome, propensity
            from call_outcomes where called_at >= :start and called_at < :end
        ),
        per_customer as (
            select {key} as grp, customer_id, count(*) as calls,
                   sum(case when outcome <> 'no_answer' then 1 else 0 end) as contacts,
                   max(case when outcome = 'subscribed' then 1 else 0 end) as subscribed,
                   coalesce(max(propensity), 0) as p
            from calls group by {key}, customer_id
        )
        select grp, sum(calls) as calls, sum(contacts) as contacts, sum(subscribed) as subscriptions,
               sum(p) as expected, sum(p * (1 - p)) as variance
        from per_customer group by grp order by grp
    """
    with engine.connect() as conn:
        rows = conn.execute(text(sql), {"start": start, "end": end}).mappings().all()
    out = []
    for r in rows:
        spread = 2 * math.sqrt(float(r["variance"] or 0))
        expected = float(r["expected"] or 0)
        out.append(
            {
                key: r["grp"],
                "calls": int(r["calls"]),
                "contacts": int(r["contacts"]),
                "subscriptions": int(r["subscriptions"]),
                "expected_subscriptions": round(expected, 2),
                "expected_low": round(max(0.0, expected - spread), 2),
                "expected_high": round(expected + spread, 2),
            }
        )
    return out


def day_figures(engine: Engine, day: dt.date) -> dict:
    """The figures of ``day`` (the centre's local day) by band and by agent, and the totals."""
    start, end, zone = _day_bounds(engine, day)
    by_band = _grouped(engine, "band", start, end)
    by_agent = _grouped(engine, "agent_id", start, end)
    total = {
        k: sum(row[k] for row in by_band) for k in ("calls", "contacts", "subscriptions", "expected_subscriptions")
    }
    total["expected_subscriptions"] = round(total["expected_subscriptions"], 2)
    flag = None
    if total["calls"] >= MIN_CALLS_FOR_ALERT:
        variance = sum(((r["expected_high"] - r["expected_subscriptions"]) / 2) ** 2 for r in by_band)
        low = total["expected_subscriptions"] - 2 * math.sqrt(variance)
        high = total["expected_subscriptions"] + 2 * math.sqrt(variance)
        if not low <= total["subscriptions"] <= high:
            flag = (
                f"{total['subscriptions']} subscriptions against {total['expected_subscriptions']:.1f} expected "
                f"(interval {max(low, 0):.1f}-{high:.1f}): the model's probabilities are off in the field"
            )
    from bank_scoring.loop.field import stored_field_check

    return {
        "day": day,
        "time_zone": zone,
        "by_band": by_band,
        "by_agent": by_agent,
        "total": total,
        "alert": flag,
        # The stored field check of the day (bank-scoring field-check, the nightly DAG), [] when not run.
        "field_check": stored_field_check(engine, day),
    }


def format_figures(found: dict) -> str:
    lines = [f"calls on {found['day']} ({found['time_zone']})"]
    for key, title in (("band", "by band"), ("agent_id", "by agent")):
        rows = found["by_band" if key == "band" else "by_agent"]
        lines.append(f"\n{title}:")
        lines.append(f"  {'':<12}{'calls':>7}{'contacts':>10}{'subscribed':>12}{'expected':>10}  interval")
        for r in rows:
            lines.append(
                f"  {str(r[key]):<12}{r['calls']:>7}{r['contacts']:>10}{r['subscriptions']:>12}"
                f"{r['expected_subscriptions']:>10.1f}  {r['expected_low']:.1f}-{r['expected_high']:.1f}"
            )
        if not rows:
            lines.append("  (no calls recorded)")
    t = found["total"]
    lines.append(
        f"\ntotal: {t['calls']} calls, {t['contacts']} contacts, {t['subscriptions']} subscriptions, "
        f"{t['expected_subscriptions']:.1f} expected"
    )
    if found["alert"]:
        lines.append(f"ALERT: {found['alert']}")
    off = [r for r in found.get("field_check", []) if r["is_off"]]
    if found.get("field_check"):
        lines.append(
            "field check: "
            + (
                "OFF in " + ", ".join(f"{r['band']} ({r['actual']} vs {r['expected']:.1f} expected)" for r in off)
                if off
                else "the model's probabilities hold"
            )
        )
    return "\n".join(lines)


def conversion_by_band(engine: Engine, last_day: dt.date, days: int = 30) -> list[dict]:
    """Per band over the ``days`` days ending ``last_day``: customers called, subscribed, the rate."""
    start, _, _ = _day_bounds(engine, last_day - dt.timedelta(days=days - 1))
    _, end, _ = _day_bounds(engine, last_day)
    sql = """
        with per_customer as (
            select coalesce(band, '-') as band, customer_id,
                   max(case when outcome = 'subscribed' then 1 else 0 end) as subscribed
            from call_outcomes where called_at >= :start and called_at < :end
            group by coalesce(band, '-'), customer_id
        )
        select band, count(*) as customers, sum(subscribed) as subscribed from per_customer
        group by band order by band
    """
    with engine.connect() as conn:
        rows = conn.execute(text(sql), {"start": start, "end": end}).all()
    return [
        {
            "band": r.band,
            "customers": int(r.customers),
            "subscribed": int(r.subscribed),
            "rate": round(int(r.subscribed) / int(r.customers), 4) if r.customers else 0.0,
        }
        for r in rows
    ]


def agent_day(engine: Engine, agent: str, day: dt.date) -> list[dict]:
    """``agent``'s calls of ``day`` (the centre's local day), newest first."""
    start, end, _ = _day_bounds(engine, day)
    with engine.connect() as conn:
        rows = (
            conn.execute(
                text(
                    "select called_at, customer_id, outcome, band, propensity, callback_at, notes from call_outcomes "
                    "where agent_id = :a and called_at >= :start and called_at < :end "
                    "order by called_at desc, call_outcome_id desc"
                ),
                {"a": agent, "start": start, "end": end},
            )
            .mappings()
            .all()
        )
    return [dict(r) for r in rows]


def open_claims_by_agent(engine: Engine, now: dt.datetime) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "select agent_id, count(*) from lead_claims where status = 'open' and expires_at > :now "
                "group by agent_id"
            ),
            {"now": now},
        ).all()
    return {r[0]: int(r[1]) for r in rows}
