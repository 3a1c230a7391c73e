"""The agent-claims bench's checker: every claim and outcome re-read from the database, and each
contact rule recomputed in pandas from the rules' numbers and the clock values alone, not from
sql/contact_policy.sql (a second opinion on the policy)."""

from __future__ import annotations

import bisect

from claims_agents import CAMPAIGN, OTHER_ZONE


def as_timestamps(series):
    import pandas as pd

    if not pd.api.types.is_datetime64_any_dtype(series):
        series = pd.to_datetime(series, format="ISO8601")  # SQLite: ISO text, with or without microseconds
    return series.astype("datetime64[ns]")


def zone_is_valid(name) -> bool:
    from zoneinfo import ZoneInfo

    try:
        if not name or name != name.strip():
            return False
        ZoneInfo(name)
    except Exception:
        return False
    return True


def check(url: str, found: list[dict], policy) -> dict:
    """Recompute every rule from the tables and the clock values, without the policy's SQL.

    ``found`` is what each agent was told (its claims, records, releases and retries);
    ``policy`` is the ContactRules the bench wrote: only its numbers are used. Returns the
    violations (``violations``: name -> count; ``broken``: the cool-downs by rule;
    ``invalid_zone``) and what the run exercised (``seen``).
    """
    import pandas as pd
    from sqlalchemy import text

    from bank_scoring.db import make_db_engine

    engine = make_db_engine(url)
    try:
        with engine.connect() as conn:
            claims = pd.read_sql(
                text(
                    "select claim_id, customer_id, agent_id, status, is_callback, claimed_at, expires_at, closed_at "
                    "from lead_claims"
                ),
                conn,
            )
            outcomes = pd.read_sql(
                text(
                    "select call_outcome_id, claim_id, customer_id, agent_id, outcome, called_at, callback_at "
                    "from call_outcomes"
                ),
                conn,
            )
            customers = pd.read_sql(
                text(
                    "select customer_id, is_do_not_call, has_objected, time_zone from customers "
                    "where customer_id in (select customer_id from lead_claims)"
                ),
                conn,
            )
            objections = pd.read_sql(
                text("select customer_id, min(recorded_at) as since from customer_objections group by customer_id"),
                conn,
            )
    finally:
        engine.dispose()
    for frame, columns in (
        (claims, ("claimed_at", "expires_at", "closed_at")),
        (outcomes, ("called_at", "callback_at")),
        (objections, ("since",)),
    ):
        for column in columns:
            frame[column] = as_timestamps(frame[column])
    for column in ("is_do_not_call", "has_objected"):
        customers[column] = customers[column].astype(bool)
    claims["is_callback"] = claims["is_callback"].astype(bool)
    v: dict[str, int] = {}
    seen: dict[str, int] = {}

    # 1. Two claims holding one customer at once. A claim holds its customer from claimed_at
    # until it is recorded or released (closed_at) or its lease runs out (expires_at).
    held_until = claims["expires_at"].where(claims["closed_at"].isna(), claims[["closed_at", "expires_at"]].min(axis=1))
    claims["held_until"] = held_until

    def overlaps(key: str) -> pd.Series:
        ordered = claims.sort_values([key, "claimed_at", "claim_id"])
        ends = ordered["held_until"].astype("int64")
        before = ends.groupby(ordered[key]).cummax().groupby(ordered[key]).shift()
        return ordered.loc[ordered["claimed_at"].astype("int64") < before, key]

    open_twice = (claims["status"] == "open").groupby(claims["customer_id"]).sum()
    v["customers held by two claims at once"] = len(
        set(overlaps("customer_id")) | set(open_twice[open_twice > 1].index)
    )
    v["agents holding more leads than allowed"] = overlaps("agent_id").nunique() if policy.max_open_claims == 1 else 0

    # 2. Outcomes lost or doubled, against what each agent was told.
    def told(key: str, columns: list[str]) -> pd.DataFrame:
        rows = [row for r in found for row in r[key]]
        return pd.DataFrame(rows, columns=columns)

    told_claims = told("claims", ["claim_id", "customer_id", "is_callback"])
    told_records = told("records", ["call_outcome_id", "claim_id", "customer_id", "outcome", "duplicate"])
    told_releases = told("releases", ["claim_id", "customer_id"])
    told_retries = told("retries", ["call_outcome_id", "again_id", "duplicate"])
    stored = told_records.merge(outcomes, on="call_outcome_id", how="left", suffixes=("", "_db"))
    lost_outcomes = int(
        (
            stored["called_at"].isna()
            | (stored["claim_id_db"] != stored["claim_id"])
            | (stored["customer_id_db"] != stored["customer_id"])
            | (stored["outcome_db"] != stored["outcome"])
        ).sum()
        + told_records["duplicate"].sum()  # a first record reported as a repeat: its own row is not there
    )
    recorded = claims.loc[claims["status"] == "recorded", "claim_id"]
    lost_outcomes += int((~recorded.isin(outcomes["claim_id"].dropna())).sum())
    by_id = claims.set_index("claim_id")
    lost_claims = int((~told_claims["claim_id"].isin(by_id.index)).sum())
    lost_releases = int(
        (~told_releases["claim_id"].map(by_id["status"]).eq("released")).sum() if len(told_releases) else 0
    )
    v["outcomes lost"] = lost_outcomes + lost_claims + lost_releases
    per_claim = outcomes["claim_id"].dropna().value_counts()
    doubled = int((per_claim[per_claim > 1] - 1).sum())
    doubled += int(
        (~told_retries["duplicate"].astype(bool) | (told_retries["again_id"] != told_retries["call_outcome_id"])).sum()
    )
    doubled += int(outcomes["claim_id"].isna().sum())  # no agent records without a claim in this bench
    v["outcomes doubled"] = doubled
    seen["outcome rows no agent was told of"] = int(
        (~outcomes["call_outcome_id"].isin(told_records["call_outcome_id"])).sum()
    )

    # 3. Do-not-call customers handed out: a claim after the flag (or the objection), or any
    # later claim than the one whose call recorded the do-not-call.
    dnc_calls = outcomes[outcomes["outcome"] == "do_not_call"]
    since = (
        pd.concat(
            [
                objections.set_index("customer_id")["since"],
                dnc_calls.groupby("customer_id")["called_at"].min(),
            ]
        )
        .groupby(level=0)
        .min()
    )
    flagged = customers.loc[customers["is_do_not_call"] | customers["has_objected"], "customer_id"]
    since = since.reindex(flagged).fillna(pd.Timestamp("1900-01-01"))  # flagged, no record of when: always
    dnc_claim = dnc_calls.groupby("customer_id")["claim_id"].min()
    handed = claims.merge(since.rename("since"), left_on="customer_id", right_index=True).merge(
        dnc_claim.rename("dnc_claim"), left_on="customer_id", right_index=True, how="left"
    )
    recording_claim = handed["claim_id"] == handed["dnc_claim"]
    bad = ((handed["claimed_at"] >= handed["since"]) & ~recording_claim) | (
        handed["dnc_claim"].notna() & (handed["claim_id"] > handed["dnc_claim"])
    )
    v["do-not-call customers handed out"] = int(bad.sum())

    # 4. Cool-downs, recomputed from each customer's calls before each claim.
    centre = policy.centre_time_zone
    outcomes["day"] = outcomes["called_at"].dt.tz_localize("UTC").dt.tz_convert(centre).dt.date
    claims["day"] = claims["claimed_at"].dt.tz_localize("UTC").dt.tz_convert(centre).dt.date
    declined_for = pd.Timedelta(days=policy.declined_days)
    no_answer_for = pd.Timedelta(hours=policy.no_answer_hours)
    grace = pd.Timedelta(minutes=policy.callback_grace_minutes)
    _, starts_on, ends_on = CAMPAIGN
    history: dict[int, list] = {}
    for row in outcomes.sort_values(["called_at", "call_outcome_id"]).itertuples(index=False):
        history.setdefault(row.customer_id, []).append(row)
    broken = dict.fromkeys(
        (
            "declined",
            "no_answer",
            "day_attempts",
            "campaign_attempts",
            "subscribed",
            "callback_early",
            "callback_grace",
        ),
        0,
    )
    exercised = dict.fromkeys(("no_answer_returns", "callbacks_own", "callbacks_other", "callbacks_early"), 0)
    for claim in claims[claims["customer_id"].isin(history)].itertuples(index=False):
        calls = history[claim.customer_id]
        before = calls[: bisect.bisect_left([c.called_at for c in calls], claim.claimed_at)]
        if not before:
            continue
        last = before[-1]
        in_campaign = [c for c in before if starts_on <= c.day <= ends_on] if starts_on <= claim.day <= ends_on else []
        if any(c.outcome == "declined" and c.called_at > claim.claimed_at - declined_for for c in before):
            broken["declined"] += 1
        if any(c.outcome == "subscribed" for c in in_campaign):
            broken["subscribed"] += 1
        if sum(c.day == claim.day for c in before) >= policy.max_day_attempts:
            broken["day_attempts"] += 1
        if len(in_campaign) >= policy.max_campaign_attempts:
            broken["campaign_attempts"] += 1
        if last.outcome == "no_answer":
            exercised["no_answer_returns"] += 1
            if last.called_at > claim.claimed_at - no_answer_for:
                broken["no_answer"] += 1
        if last.outcome == "call_back":
            own = claim.agent_id == last.agent_id
            exercised["callbacks_own" if own else "callbacks_other"] += 1
            if last.callback_at > claim.claimed_at:
                broken["callback_early"] += 1
            elif not own and last.callback_at > claim.claimed_at - grace:
                broken["callback_grace"] += 1
    v["cool-downs broken"] = sum(broken.values())

    # 5. Calling hours: claim time in [window start, window end) local to the customer's zone;
    # a zone that does not exist is never inside them.
    zones = claims["customer_id"].map(customers.set_index("customer_id")["time_zone"]).fillna(centre)
    outside = pd.Series(False, index=claims.index)
    invalid = pd.Series(False, index=claims.index)
    for zone, idx in claims.groupby(zones).groups.items():
        if not zone_is_valid(zone):
            invalid[idx] = True
            continue
        local = claims.loc[idx, "claimed_at"].dt.tz_localize("UTC").dt.tz_convert(zone)
        minute = local.dt.hour * 60 + local.dt.minute
        outside[idx] = ~((minute >= policy.window_start_minute) & (minute < policy.window_end_minute))
    v["leads outside their calling window"] = int((outside | invalid).sum())

    lisbon = claims["claimed_at"].dt.tz_localize("UTC").dt.tz_convert(centre)
    seen.update(
        {
            "claims": len(claims),
            "outcomes": len(outcomes),
            "no-answer leads claimed again": exercised["no_answer_returns"],
            "callbacks claimed by their own agent": exercised["callbacks_own"],
            "callbacks claimed by another agent": exercised["callbacks_other"],
            f"leads in {OTHER_ZONE}": int((zones == OTHER_ZONE).sum()),
            f"claims after {policy.window_end_minute // 60}:00 in {centre}": int(
                ((lisbon.dt.hour * 60 + lisbon.dt.minute) >= policy.window_end_minute).sum()
            ),
            "leases that ran out (expired claims)": int((claims["status"] == "expired").sum()),
            "do-not-call flags recorded by agents": len(dnc_calls),
        }
    )
    return {
        "violations": v,
        "broken": broken,
        "invalid_zone": int(invalid.sum()),
        "lost_detail": {"outcomes": lost_outcomes, "claims": lost_claims, "releases": lost_releases},
        "seen": seen,
    }
