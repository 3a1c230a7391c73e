"""Agents' calls become training rows: the harvest of ``call_outcomes`` into ``campaign_contacts``.

Point in time: a training row holds the customer's attributes as they were when the call
was made. ``customer_history`` (sql/customer_history.sql) keeps the old values of every
update of a customer's model attributes, written by a database trigger, so any writer
(the loop's roll-over, a reload, another bank system, a hand-written UPDATE) is covered
and the claims' code needs no change. The attributes at the call are the first history
row that stopped being true after ``called_at``, or the customers row when none did.

Labels, per call:

- subscribed -> is_subscribed true; declined -> false (the customer was reached).
- no_answer / call_back wait. A later subscribed or declined call to the same customer in
  the same campaign supersedes them (that call is the label). When the campaign has ended
  without reaching the customer, the campaign's unreached calls become ONE row labelled
  false (the campaign did not sell to them), with the attributes at the last of them: one
  row per customer and campaign, as in the UCI file, rather than one per dial, which would
  weight hard-to-reach customers by their number of attempts. If the customer was reached
  earlier in that campaign, the earlier reached call already holds the campaign's answer
  and the unreached ones are superseded by it. Calls outside any campaign ('') never end,
  so their no_answers stay pending until the customer is reached.
- do_not_call is not a label: it is a refusal of contact, not of the offer, and a
  customer who asked it is never called again (counted ``not_a_label``).
- a call that cannot become a row (unknown customer, attributes missing at the call) is
  kept in harvested_calls as ``rejected`` with its reason.

The row: contact_date is the call's date in the centre's time zone; campaign is the
customer's count at the call plus this call (the UCI meaning, "includes last contact");
pdays, previous_contacts and previous_outcome as at the call; duration_seconds null.
contact_id = HARVEST_ID_BASE + the call's id (ingest numbers below it), and the row keeps
the call, run, model version and rank that chose the lead.

Exactly once: each batch of calls is one transaction that writes the training rows and
their harvested_calls rows together (a harvest killed in the middle keeps whole batches
only), the harvested_calls key and the deterministic contact_id refuse a second copy, and
harvests take turns (SQLite's write lock, a PostgreSQL advisory lock), so two at once, a
rerun or a retry each harvest a call once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt

from sqlalchemy import Engine, text

from bank_scoring.agents import policy
from bank_scoring.db import HARVEST_ID_BASE, dialect_of
from bank_scoring.features import CUSTOMER_ATTRIBUTES, month_name
from bank_scoring.loop.campaigns import Campaigns

LABELS = {"subscribed": True, "declined": False}
WAITING = ("no_answer", "call_back")
# Harvests on PostgreSQL take turns on this advisory lock (any constant unique to us).
ADVISORY_KEY = 7_310_019


@dataclasses.dataclass
class HarvestSummary:
    """What one harvest did: calls looked at, rows added, and each call's fate by kind."""

    calls_seen: int = 0
    rows_added: int = 0
    labelled: int = 0
    unreached: int = 0
    superseded: int = 0
    not_a_label: int = 0
    rejected: int = 0
    pending: int = 0
    rejects: list[tuple[int, str]] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict:
        found = dataclasses.asdict(self)
        found["rejects"] = [{"call_outcome_id": c, "reason": r} for c, r in self.rejects]
        return found


@dataclasses.dataclass
class _Call:
    call_outcome_id: int
    customer_id: int
    outcome: str
    called_at: dt.datetime
    run_id: int | None
    rank: int | None
    campaign: str  # the campaign its date falls in
    day: dt.date  # its date in the centre's time zone
    selection: str | None = None  # 'list' or 'exploration' (lead_assignments); None outside the list
    selection_probability: float | None = None


def as_datetime(value) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))


@contextlib.contextmanager
def writer(engine: Engine):
    """A transaction that waits its turn: SQLite's write lock, or our PostgreSQL advisory lock."""
    if dialect_of(engine) == "sqlite":
        from bank_scoring.agents.claims_sqlite import immediate

        with immediate(engine) as conn:
            yield conn
        return
    with engine.begin() as conn:
        conn.execute(text("select pg_advisory_xact_lock(:k)"), {"k": ADVISORY_KEY})
        yield conn


def calls_where(conn, where: str, params: dict, rules, campaigns: Campaigns, limit: int | None = None) -> list[_Call]:
    rows = conn.execute(
        text(
            "select call_outcome_id, customer_id, outcome, called_at, run_id, rank, "
            "(select a.selection_probability from lead_assignments as a where a.run_id = call_outcomes.run_id "
            "and a.customer_id = call_outcomes.customer_id and a.role = 'exploration') as explored "
            f"from call_outcomes where {where} order by call_outcome_id" + (f" limit {int(limit)}" if limit else "")
        ),
        params,
    ).all()
    found = []
    for r in rows:
        called = as_datetime(r.called_at)
        day = policy.local_now(rules, called).date()
        found.append(
            _Call(
                int(r.call_outcome_id),
                int(r.customer_id),
                r.outcome,
                called,
                r.run_id,
                r.rank,
                campaigns.at(day),
                day,
                None if r.run_id is None else ("list" if r.explored is None else "exploration"),
                None if r.run_id is None else (1.0 if r.explored is None else float(r.explored)),
            )
        )
    return found


def attributes_at(conn, customer_ids: list[int], since: dt.datetime):
    """A function (customer_id, at) -> the customer's attributes at ``at`` (None: unknown customer)."""
    columns = ", ".join(CUSTOMER_ATTRIBUTES)
    current = {}
    history: dict[int, list] = {}
    for start in range(0, len(customer_ids), 500):
        chunk = customer_ids[start : start + 500]
        marks = ", ".join(f":c{i}" for i in range(len(chunk)))
        params = {f"c{i}": c for i, c in enumerate(chunk)}
        for r in conn.execute(
            text(f"select customer_id, {columns} from customers where customer_id in ({marks})"), params
        ).mappings():
            current[int(r["customer_id"])] = {c: r[c] for c in CUSTOMER_ATTRIBUTES}
        for r in conn.execute(
            text(
                f"select customer_id, valid_until, {columns} from customer_history "
                f"where customer_id in ({marks}) and valid_until > :since order by valid_until, history_id"
            ),
            {**params, "since": since},
        ).mappings():
            history.setdefault(int(r["customer_id"]), []).append(
                (as_datetime(r["valid_until"]), {c: r[c] for c in CUSTOMER_ATTRIBUTES})
            )

    def at(customer_id: int, when: dt.datetime) -> dict | None:
        for until, values in history.get(customer_id, ()):
            if until > when:
                return values
        return current.get(customer_id)

    return at


def _decide(call: _Call, by_customer: dict[int, list[_Call]], campaigns, today):
    """(status, the call whose attributes make the row or that supersedes, label) for one call.

    status is 'labelled', 'unreached', 'superseded', 'not_a_label' or None (still waiting).
    """
    if call.outcome in LABELS:
        return "labelled", call, LABELS[call.outcome]
    if call.outcome not in WAITING:
        return "not_a_label", None, None
    same = [c for c in by_customer[call.customer_id] if c.campaign == call.campaign]
    reached = [c for c in same if c.outcome in LABELS]
    later = [c for c in reached if (c.called_at, c.call_outcome_id) > (call.called_at, call.call_outcome_id)]
    if later:
        return "superseded", later[0], None
    if not campaigns.ended(call.campaign, today):
        return None, None, None
    if reached:
        return "superseded", reached[-1], None
    last = [c for c in same if c.outcome in WAITING][-1]
    return "unreached", last, False


def _missing(values: dict | None) -> str | None:
    if values is None:
        return "unknown customer"
    empty = [c for c in CUSTOMER_ATTRIBUTES if values[c] is None]
    return f"attributes missing at the call: {', '.join(empty)}" if empty else None


def _row(call: _Call, values: dict, label: bool, model_version) -> dict:
    return {
        "contact_id": HARVEST_ID_BASE + call.call_outcome_id,
        "customer_id": call.customer_id,
        "contact_date": call.day,
        "contact_year": call.day.year,
        "contact_month": month_name(call.day),
        "contact_day": call.day.day,
        **values,
        "campaign": int(values["campaign"]) + 1,
        "is_subscribed": label,
        "call_outcome_id": call.call_outcome_id,
        "run_id": call.run_id,
        "model_version": model_version,
        "lead_rank": call.rank,
        "selection": call.selection,
        "selection_probability": call.selection_probability,
    }


_ROW_COLUMNS = (
    "contact_id",
    "customer_id",
    "contact_date",
    "contact_year",
    "contact_month",
    "contact_day",
    *CUSTOMER_ATTRIBUTES,
    "is_subscribed",
    "call_outcome_id",
    "run_id",
    "model_version",
    "lead_rank",
    "selection",
    "selection_probability",
)


def _write(conn, rows: list[dict], marks: list[dict]) -> None:
    """Insert the training rows and the harvested_calls rows (one transaction, the caller's)."""
    if rows:
        conn.execute(
            text(
                f"insert into campaign_contacts ({', '.join(_ROW_COLUMNS)}) "
                f"values ({', '.join(':' + c for c in _ROW_COLUMNS)})"
            ),
            rows,
        )
    if marks:
        conn.execute(
            text(
                "insert into harvested_calls (call_outcome_id, status, contact_id, superseded_by, reason, "
                "harvested_at) values (:call_outcome_id, :status, :contact_id, :superseded_by, :reason, :at)"
            ),
            marks,
        )


def _batch(conn, after: int, batch_size: int, now: dt.datetime, summary: HarvestSummary) -> int | None:
    """Harvest the next batch of calls after id ``after``; the last id looked at, or None when done."""
    rules = policy.load_rules(conn)
    campaigns = Campaigns(conn)
    today = policy.local_now(rules, now).date()
    todo = calls_where(
        conn,
        "call_outcome_id > :after and called_at <= :now and not exists (select 1 from harvested_calls as h "
        "where h.call_outcome_id = call_outcomes.call_outcome_id)",
        {"after": after, "now": now},
        rules,
        campaigns,
        limit=batch_size,
    )
    if not todo:
        return None
    customers = sorted({c.customer_id for c in todo})
    by_customer: dict[int, list[_Call]] = {c: [] for c in customers}
    for start in range(0, len(customers), 500):
        chunk = customers[start : start + 500]
        marks = ", ".join(f":c{i}" for i in range(len(chunk)))
        for c in calls_where(
            conn,
            f"customer_id in ({marks}) and called_at <= :now",
            {**{f"c{i}": c for i, c in enumerate(chunk)}, "now": now},
            rules,
            campaigns,
        ):
            by_customer[c.customer_id].append(c)
    for calls in by_customer.values():
        calls.sort(key=lambda c: (c.called_at, c.call_outcome_id))
    ids = [c.call_outcome_id for calls in by_customer.values() for c in calls]
    done = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join(f":i{i}" for i in range(len(chunk)))
        done.update(
            int(r[0])
            for r in conn.execute(
                text(f"select call_outcome_id from harvested_calls where call_outcome_id in ({marks})"),
                {f"i{i}": c for i, c in enumerate(chunk)},
            )
        )
    at = attributes_at(conn, customers, min(c.called_at for calls in by_customer.values() for c in calls))
    versions = {
        int(r.run_id): r.model_version for r in conn.execute(text("select run_id, model_version from scoring_runs"))
    }
    rows, marks, seen = [], [], set()

    def mark(call: _Call, status: str, contact_id=None, superseded_by=None, reason=None) -> None:
        seen.add(call.call_outcome_id)
        marks.append(
            {
                "call_outcome_id": call.call_outcome_id,
                "status": status,
                "contact_id": contact_id,
                "superseded_by": superseded_by,
                "reason": reason,
                "at": now,
            }
        )
        setattr(summary, status, getattr(summary, status) + 1)
        if reason and status == "rejected":
            summary.rejects.append((call.call_outcome_id, reason))

    for call in todo:
        if call.call_outcome_id in seen:
            continue
        status, source, label = _decide(call, by_customer, campaigns, today)
        if status is None:
            summary.pending += 1
            continue
        if status == "not_a_label":
            mark(call, status, reason=f"{call.outcome} is a refusal of contact, not an answer to the offer")
            continue
        if status == "superseded":
            mark(call, status, superseded_by=source.call_outcome_id)
            continue
        group = (
            [call]
            if status == "labelled"
            else [
                c
                for c in by_customer[call.customer_id]
                if c.campaign == call.campaign and c.outcome in WAITING and c.call_outcome_id not in done | seen
            ]
        )
        if status == "unreached":
            source = group[-1]  # the last call not yet harvested: its id names the row
        problem = _missing(at(source.customer_id, source.called_at))
        if problem is None and source.run_id is not None and source.run_id not in versions:
            problem = f"run {source.run_id} that handed out the lead is not in scoring_runs"
        if problem is not None:
            for c in group:
                mark(c, "rejected", reason=problem)
            continue
        row = _row(source, at(source.customer_id, source.called_at), label, versions.get(source.run_id))
        rows.append(row)
        summary.rows_added += 1
        for c in group:
            mark(c, status, contact_id=row["contact_id"])
    summary.calls_seen += len(marks) + sum(1 for c in todo if c.call_outcome_id not in seen)
    _write(conn, rows, marks)
    return todo[-1].call_outcome_id


def harvest_calls(engine: Engine, now: dt.datetime | None = None, batch_size: int = 1000) -> HarvestSummary:
    """Turn the finished calls recorded up to ``now`` (naive UTC) into training rows, each once.

    Safe to run again, to retry after a failure and to run beside another harvest: a
    call already harvested is skipped. Each batch of ``batch_size`` calls commits on its
    own. Returns what it did; calls still waiting for a label are counted ``pending``.
    """
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    summary = HarvestSummary()
    after = 0
    while True:
        with writer(engine) as conn:
            last = _batch(conn, after, batch_size, now, summary)
        if last is None:
            return summary
        after = last
