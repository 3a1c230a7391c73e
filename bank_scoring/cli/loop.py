"""``bank-scoring harvest``: agents' finished calls become training rows; customers' counts follow."""

from __future__ import annotations

import datetime as dt

from bank_scoring.cli.agents import _engine, _show, local_time_arg, to_utc
from bank_scoring.cli.argtypes import date_arg, positive_arg


def add_commands(sub) -> None:
    """Declare the loop's subcommands (imports nothing heavy)."""
    p = sub.add_parser(
        "harvest",
        help="turn agents' finished calls into training rows, once each",
        description="Turn the finished calls in call_outcomes into campaign_contacts rows, with the "
        "customer's attributes as they were at each call and the run, model version and rank that chose "
        "the lead: subscribed and declined are labels; no_answer and call_back wait until the customer "
        "is reached or the campaign ends (then one row, not subscribed); do_not_call is not a label. "
        "Each call is harvested once, however often this runs. Then counts the day's calls into the "
        "customers' campaign, pdays, previous_contacts and previous_outcome (rolled over when a new "
        "campaign starts), so tomorrow's scores see them.",
    )
    p.add_argument("--at", type=local_time_arg, help="act as if it were this local time (default: now)")
    p.add_argument("--batch-size", type=positive_arg, default=1000, help="calls per transaction (default: 1000)")
    p.add_argument("--no-roll", action="store_true", help="harvest only; leave the customers' attributes as they are")
    p.add_argument("--json", action="store_true", help="JSON instead of text")
    p.set_defaults(func=cmd_harvest)
    p = sub.add_parser(
        "field-check",
        help="a day's subscriptions against the model's expected, per band, with an alert when off",
        description="For the calls of a day that reached the customer (subscribed or declined), per band "
        "and overall: actual subscriptions against the sum of the propensities the leads were handed out "
        "with, and its interval (Poisson-binomial variance, family-wise 95%%). Stores the rows in "
        "field_checks (a rerun replaces them) and an alert on the day's published run (field_alert) when "
        "the model is off in the field.",
    )
    p.add_argument("--date", type=date_arg, help="YYYY-MM-DD, the centre's local day (default: yesterday)")
    p.add_argument("--json", action="store_true", help="JSON instead of text")
    p.set_defaults(func=cmd_field_check)


def cmd_harvest(args) -> int:
    from bank_scoring.agents import policy
    from bank_scoring.loop.harvest import harvest_calls
    from bank_scoring.loop.roll import roll_customer_attributes

    engine = _engine(args)
    now = to_utc(engine, args.at)
    found = harvest_calls(engine, now=now, batch_size=args.batch_size)
    payload = {"harvest": found.as_dict()}
    lines = [
        f"harvested {found.calls_seen:,} call(s): {found.rows_added:,} training row(s) added "
        f"({found.labelled:,} reached, {found.unreached:,} unreached at a campaign's end), "
        f"{found.superseded:,} superseded by a later answer, {found.not_a_label:,} do-not-call, "
        f"{found.pending:,} still waiting, {found.rejected:,} rejected",
    ]
    lines += [f"  call {call}: {reason}" for call, reason in found.rejects]
    if not args.no_roll:
        with engine.connect() as conn:
            today = policy.local_now(policy.load_rules(conn), now).date()
        rolled = roll_customer_attributes(engine, today, now=now)
        payload["roll"] = {"day": today, **rolled.as_dict()}
        lines.append(
            f"customers: {rolled.calls_counted:,} call(s) counted up to {today}, {rolled.customers_updated:,} "
            f"customer(s) updated, {rolled.rolled_over:,} campaign roll-over(s)"
        )
    _show(args, payload, "\n".join(lines))
    return 0  # rejected calls are recorded with their reason and listed above


def cmd_field_check(args) -> int:
    from bank_scoring.agents import policy
    from bank_scoring.loop.field import field_check, format_field_check

    engine = _engine(args)
    day = args.date
    if day is None:
        with engine.connect() as conn:
            day = policy.local_now(policy.load_rules(conn), to_utc(engine, None)).date() - dt.timedelta(days=1)
    found = field_check(engine, day)
    _show(args, {"field_check": found.as_dict()}, format_field_check(found))
    return 0  # an alert is a finding, not a failure: it is on the run and in the figures
