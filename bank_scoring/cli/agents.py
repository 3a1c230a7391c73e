"""The agents' commands: ``agent``, ``customers``, ``users``, ``campaigns``.

Times on the command line (``--at``, ``--callback-at``) are the centre's local time
(BANK_SCORING_TIME_ZONE) unless they carry an offset; the package works in naive UTC.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import sys

from bank_scoring.agents.policy import OUTCOMES


def local_time_arg(value: str) -> dt.datetime:
    """'YYYY-MM-DD HH:MM' (the centre's local time) or ISO 8601 with an offset."""
    try:
        return dt.datetime.fromisoformat(value.replace("T", " "))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a time as 'YYYY-MM-DD HH:MM', got {value!r}") from None


def customer_arg(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a customer id is a whole number, got {value!r}") from None


def add_commands(sub, commands_module) -> None:
    """Declare the agents' subcommands (imports nothing heavy)."""
    clock = {"type": local_time_arg, "help": "act as if it were this local time (default: now)"}

    p = sub.add_parser(
        "agent",
        help="agents work the list: next lead, record, release, figures",
        description="Hand out leads one agent at a time under the contact policy.",
    )
    asub = p.add_subparsers(dest="agent_command", required=True, metavar="ACTION")
    a = asub.add_parser(
        "next",
        help="claim the best callable lead for an agent",
        description="Claim the best lead the contact policy lets AGENT call now, and show it.",
    )
    a.add_argument("--agent", required=True)
    a.add_argument("--at", **clock)
    a.add_argument("--json", action="store_true", help="JSON instead of text")
    a.set_defaults(func=cmd_agent_next)
    a = asub.add_parser(
        "record",
        help="record the outcome of a call",
        description="Record what happened on the call to CUSTOMER, from the agent's claim.",
    )
    a.add_argument("customer", type=customer_arg)
    a.add_argument("--agent", required=True)
    a.add_argument("--outcome", required=True, help=f"one of: {', '.join(OUTCOMES)}")
    a.add_argument("--callback-at", type=local_time_arg, help="for call_back: when to call, local time")
    a.add_argument("--notes")
    a.add_argument("--at", **clock)
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_agent_record)
    a = asub.add_parser(
        "release",
        help="give a claimed lead back",
        description="Give CUSTOMER's lead (or, with --all, every lead the agent holds) back now.",
    )
    a.add_argument("customer", type=customer_arg, nargs="?")
    a.add_argument("--all", action="store_true", help="every lead the agent holds (end of shift)")
    a.add_argument("--agent", required=True)
    a.add_argument("--at", **clock)
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_agent_release)
    a = asub.add_parser(
        "figures",
        help="a day's calls, contacts and subscriptions against the expected",
        description="The team lead's figures per band and per agent for a day.",
    )
    a.add_argument("--date", type=dt.date.fromisoformat, help="YYYY-MM-DD, the centre's local day (default today)")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_agent_figures)
    a = asub.add_parser(
        "refill",
        help="rebuild the pool of leads from the latest night",
        description="Refill lead_pool from the latest published night (publish does this).",
    )
    a.set_defaults(func=cmd_agent_refill)

    p = sub.add_parser(
        "customers", help="a customer's objection or time zone", description="What customers ask about being called."
    )
    csub = p.add_subparsers(dest="customers_command", required=True, metavar="ACTION")
    c = csub.add_parser(
        "object",
        help="record an objection to direct marketing (never called, not scored)",
        description="Record CUSTOMER's objection to direct marketing and profiling (GDPR "
        "Art. 21): they leave the lists at once and are not scored from the next night.",
    )
    c.add_argument("customer", type=customer_arg)
    c.add_argument("--reason", required=True, help="what the customer asked, and how")
    c.add_argument("--source", default="cli", help="the system or person recording it (default: cli)")
    c.set_defaults(func=cmd_customers_object)
    c = csub.add_parser(
        "time-zone",
        help="set a customer's time zone for calling hours",
        description="Set CUSTOMER's IANA time zone (e.g. Europe/Madrid); 'centre' clears it.",
    )
    c.add_argument("customer", type=customer_arg)
    c.add_argument("zone")
    c.set_defaults(func=cmd_customers_time_zone)

    p = sub.add_parser("users", help="agents, team leads and admins", description="Manage who works the list.")
    usub = p.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    u = usub.add_parser(
        "add",
        help="add or update a user",
        description="Add NAME with a role. The password (for the desk) is read from a prompt, "
        "or from stdin with --password-stdin; never from an argument.",
    )
    u.add_argument("name")
    u.add_argument("--role", required=True, choices=("agent", "team_lead", "admin"))
    u.add_argument("--capacity", type=int, default=1, help="leads the agent may hold at once (default 1)")
    u.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    u.add_argument("--no-password", action="store_true", help="no desk login (CLI only)")
    u.set_defaults(func=cmd_users_add)
    u = usub.add_parser("list", help="list users", description="List users with their role and capacity.")
    u.set_defaults(func=cmd_users_list)
    u = usub.add_parser(
        "token",
        help="a new API token for a bank system acting as NAME",
        description="Print a new API token for NAME (shown once; send it as 'Authorization: Bearer TOKEN').",
    )
    u.add_argument("name")
    u.set_defaults(func=cmd_users_token)

    p = sub.add_parser(
        "serve",
        help="the agents' desk: web pages and the REST API",
        description="Serve the agents' desk (pages, /api/v1, the tutorial's POST /api) with "
        "uvicorn on the configured database.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "campaigns",
        help="marketing campaigns (attempt limits count per campaign)",
        description="Campaigns: a subscriber is not called again within one.",
    )
    gsub = p.add_subparsers(dest="campaigns_command", required=True, metavar="ACTION")
    g = gsub.add_parser("add", help="add a campaign", description="Add campaign NAME from --start to --end.")
    g.add_argument("name")
    g.add_argument("--start", type=dt.date.fromisoformat, required=True)
    g.add_argument("--end", type=dt.date.fromisoformat)
    g.set_defaults(func=cmd_campaigns_add)
    g = gsub.add_parser("list", help="list campaigns", description="List campaigns.")
    g.set_defaults(func=cmd_campaigns_list)
    del commands_module


def _engine(args):
    from bank_scoring.db import make_db_engine

    return make_db_engine(args.db_url)


def to_utc(engine, value: dt.datetime | None) -> dt.datetime:
    """A command-line time (local to the centre, or with an offset) as naive UTC; None is now."""
    from zoneinfo import ZoneInfo

    from bank_scoring.agents import policy

    if value is None:
        return dt.datetime.now(dt.UTC).replace(tzinfo=None)
    if value.tzinfo is None:
        with engine.connect() as conn:
            value = value.replace(tzinfo=ZoneInfo(policy.load_rules(conn).centre_time_zone))
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def _show(args, payload: dict, text_: str) -> None:
    from bank_scoring.agents.leads import jsonable

    print(json.dumps(jsonable(payload), indent=2) if args.json else text_)


def _yes(value) -> str:
    return "?" if value is None else ("yes" if value else "no")


def _local(engine, when: dt.datetime) -> dt.datetime:
    from bank_scoring.agents import policy

    with engine.connect() as conn:
        return policy.local_now(policy.load_rules(conn), when)


def cmd_agent_next(args) -> int:
    from dataclasses import asdict

    from bank_scoring.agents.claims import next_lead
    from bank_scoring.agents.leads import lead_details

    engine = _engine(args)
    lead = next_lead(engine, args.agent, to_utc(engine, args.at))
    if lead is None:
        _show(args, {"lead": None}, "no lead may be called now (see `bank-scoring worklist --preview`)")
        return 0
    details = lead_details(engine, lead.customer_id, lead.run_id, history=5)
    lines = [
        f"lead for {lead.agent_id}: customer {lead.customer_id}, rank {lead.rank}, band {lead.band}, "
        f"propensity {lead.propensity:.1%}" + (" (callback due)" if lead.is_callback else ""),
        f"  yours until {_local(engine, lead.expires_at):%H:%M}: record with "
        f"`bank-scoring agent record {lead.customer_id} --agent {lead.agent_id} --outcome ...`",
        f"  age {details['age']}, {details['job']}, {details['marital']}, balance {details['balance']}, "
        f"housing loan {_yes(details['has_housing_loan'])}, personal loan {_yes(details['has_personal_loan'])}, "
        f"channel {details['contact_channel']}, last campaign {details['previous_outcome']}",
    ]
    if details["reasons"]:
        lines.append("  why: " + "; ".join(details["reasons"]))
    for call in details["calls"]:
        lines.append(f"  called {call['called_at']} by {call['agent_id']}: {call['outcome']}")
    _show(args, {"lead": asdict(lead), "customer": details}, "\n".join(lines))
    return 0


def cmd_agent_record(args) -> int:
    from dataclasses import asdict

    from bank_scoring.agents.claims import record_outcome

    engine = _engine(args)
    callback = to_utc(engine, args.callback_at) if args.callback_at else None
    done = record_outcome(
        engine, args.agent, args.customer, args.outcome, to_utc(engine, args.at), callback, args.notes
    )
    note = " (already recorded: nothing changed)" if done.duplicate else ""
    _show(args, asdict(done), f"recorded {done.outcome} for customer {done.customer_id} by {done.agent_id}{note}")
    return 0


def cmd_agent_release(args) -> int:
    from bank_scoring.agents.claims import open_claims, release

    engine = _engine(args)
    now = to_utc(engine, args.at)
    if args.all == (args.customer is not None):
        raise ValueError("give either a CUSTOMER or --all")
    customers = open_claims(engine, args.agent, now) if args.all else [args.customer]
    released = [{"claim_id": release(engine, args.agent, c, now), "customer_id": c} for c in customers]
    shown = ", ".join(str(r["customer_id"]) for r in released) or "none held"
    _show(args, {"released": released}, f"back in the pool: {shown}")
    return 0


def cmd_agent_figures(args) -> int:
    from zoneinfo import ZoneInfo

    from bank_scoring.agents import policy
    from bank_scoring.agents.figures import day_figures, format_figures

    engine = _engine(args)
    day = args.date
    if day is None:
        with engine.connect() as conn:
            zone = policy.load_rules(conn).centre_time_zone
        day = dt.datetime.now(ZoneInfo(zone)).date()
    found = day_figures(engine, day)
    _show(args, found, format_figures(found))
    return 0


def cmd_agent_refill(args) -> int:
    from bank_scoring.agents import pool
    from bank_scoring.scoring import latest_published_run

    engine = _engine(args)
    run = latest_published_run(engine)
    if run is None:
        raise LookupError("no published night to refill the pool from: run `bank-scoring score` first")
    size = pool.refill(engine, run.run_id, dt.datetime.now(dt.UTC).replace(tzinfo=None))
    print(f"pool refilled from run {run.run_id} ({run.score_date}): {size:,} leads")
    return 0


def cmd_customers_object(args) -> int:
    from bank_scoring.agents.customers import object_to_marketing

    engine = _engine(args)
    object_to_marketing(engine, args.customer, args.reason, args.source, to_utc(engine, None))
    print(f"customer {args.customer}: objection recorded; never called again, not scored from the next night")
    return 0


def cmd_customers_time_zone(args) -> int:
    from bank_scoring.agents.customers import set_time_zone

    zone = None if args.zone == "centre" else args.zone
    set_time_zone(_engine(args), args.customer, zone)
    print(f"customer {args.customer}: time zone {zone or 'of the centre'}")
    return 0


def cmd_users_add(args) -> int:
    from bank_scoring.agents.users import add_user

    password = None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif not args.no_password:
        if not sys.stdin.isatty():
            raise ValueError("no terminal for the password prompt: use --password-stdin or --no-password")
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            raise ValueError("the two passwords differ; nothing changed")
    user = add_user(_engine(args), args.name, args.role, args.capacity, password)
    print(
        f"user {user.user_name}: {user.role}, capacity {user.capacity}, desk login {'yes' if user.can_log_in else 'no'}"
    )
    return 0


def cmd_users_list(args) -> int:
    from bank_scoring.agents.users import list_users

    for u in list_users(_engine(args)):
        print(
            f"{u.user_name:<20} {u.role:<10} capacity {u.capacity}  {'active' if u.is_active else 'inactive'}"
            f"  desk login {'yes' if u.can_log_in else 'no'}"
        )
    return 0


def cmd_users_token(args) -> int:
    from bank_scoring.agents.users import new_api_token

    print(new_api_token(_engine(args), args.name))
    return 0


def cmd_serve(args) -> int:
    import os

    try:
        import uvicorn
    except ImportError:
        raise ValueError("the desk needs its web stack: pip install 'bank-scoring[desk]'") from None

    os.environ["BANK_SCORING_DB_URL"] = args.db_url  # the app is built from configuration
    print(f"agents' desk on http://{args.host}:{args.port}/ (API: /api/docs); Ctrl-C stops it", flush=True)
    uvicorn.run(
        "bank_scoring.desk.asgi:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
        proxy_headers=True,
    )
    return 0


def cmd_campaigns_add(args) -> int:
    from sqlalchemy import text

    if args.end and args.end < args.start:
        raise ValueError("--end is before --start")
    with _engine(args).begin() as conn:
        conn.execute(
            text("insert into campaigns (campaign_name, starts_on, ends_on) values (:n, :s, :e)"),
            {"n": args.name, "s": args.start, "e": args.end},
        )
    print(f"campaign {args.name}: {args.start} to {args.end or 'open-ended'}")
    return 0


def cmd_campaigns_list(args) -> int:
    from sqlalchemy import text

    with _engine(args).connect() as conn:
        for row in conn.execute(text("select campaign_name, starts_on, ends_on from campaigns order by starts_on")):
            print(f"{row.campaign_name:<20} {row.starts_on} to {row.ends_on or 'open-ended'}")
    return 0
