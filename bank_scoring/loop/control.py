"""The control group and the exploration slice of each night's pool (issue 19, item 3).

*Control.* A customer is control when a stable hash of their id (salted) falls below the
control share: the same customers stay control night after night (a persistent group, so
their outcomes measure what calling adds), whatever the date or the ranking. A run's
control customers are logged in ``lead_assignments`` in the transaction that publishes it
(so published_leads never lists them) and taken out of the pool when it is filled; the
claims check the log as well, so they are never handed out on either database.

*Exploration.* The list is the pool's leads above the cut, the leads of the top band
(``LIST_BANDS``, the best 10% of the scored customers). ``round(exploration_share x list
size)`` customers are drawn uniformly, without replacement, from the eligible,
non-control customers below the cut, with a generator seeded by the score date (the same
night draws the same customers); each had probability ``draws / eligible below the cut``.
They are put into the list at even spacing: each takes the pool rank of the control
customer nearest its place, a rank nobody else in the pool has (the pool's order is
(run_id, rank) on both databases, and the PostgreSQL claim functions page through it by
that key). So the list can hold as many exploration leads as it has control customers;
with the defaults (5% control, 2% exploration) it has about 2.5 times as many.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import itertools

import numpy as np
from sqlalchemy import Connection, bindparam, text

from bank_scoring.config import DEFAULT_CONTROL_SHARE, DEFAULT_EXPLORATION_SHARE
from bank_scoring.db import as_date

LIST_BANDS = ("A",)  # the bands above the cut
READ_ROWS = 100_000  # pool rows fetched at a time, and lead_assignments rows written at a time
CONTROL_SALT = "bank-scoring control group v1"  # changing it draws a new control group


@dataclasses.dataclass(frozen=True)
class Selection:
    """What one night's draw did."""

    run_id: int
    eligible: int
    control: int
    list_size: int
    below_cut: int
    explored: int
    probability: float


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a stable, well-mixed 64-bit hash of each value."""
    with np.errstate(over="ignore"):
        x = x.astype(np.uint64)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def control_mask(customer_ids, share: float = DEFAULT_CONTROL_SHARE, salt: str = CONTROL_SALT) -> np.ndarray:
    """True for the customers of the persistent control group (the same ids give the same answer)."""
    ids = np.asarray(customer_ids, dtype=np.int64).astype(np.uint64)
    key = np.uint64(int.from_bytes(hashlib.sha256(salt.encode()).digest()[:8], "big"))
    with np.errstate(over="ignore"):
        uniform = (_mix64(ids ^ key) >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return uniform < share


def night_seed(score_date) -> int:
    """The exploration draw's seed: the score date, so a night's draw can be repeated."""
    return int(as_date(score_date).strftime("%Y%m%d"))


def even_slots(free_ranks: list[int], wanted: int, list_end: int) -> list[int]:
    """``wanted`` of ``free_ranks``, each the free rank nearest an evenly spaced place in the list.

    The places are taken in order; each takes the nearest rank not yet taken (the lower
    one on a tie), found by bisection from its place.
    """
    free = sorted(free_ranks)
    taken = [False] * len(free)
    chosen: list[int] = []
    for i in range(1, min(wanted, len(free)) + 1):
        target = list_end * i / (wanted + 1)
        right = bisect.bisect_left(free, target)
        left = right - 1
        while left >= 0 and taken[left]:
            left -= 1
        while right < len(free) and taken[right]:
            right += 1
        pick = left if left >= 0 and (right >= len(free) or target - free[left] <= free[right] - target) else right
        taken[pick] = True
        chosen.append(free[pick])
    return sorted(chosen)


def select(
    conn: Connection,
    run_id: int,
    score_date,
    control_share: float = DEFAULT_CONTROL_SHARE,
    exploration_share: float = DEFAULT_EXPLORATION_SHARE,
) -> Selection:
    """Draw tonight's control group and exploration slice from the freshly filled pool.

    Runs in the refill's transaction, after the pool holds the run's eligible leads. The
    control rows written at publishing are kept when the share is the same.
    """
    conn.execute(text("delete from lead_assignments where run_id = :r and role = 'exploration'"), {"r": run_id})
    mark_control(conn, run_id, score_date, control_share)
    # The freshly filled pool is in score order, so the list is the ranks up to the cut's.
    cut = conn.execute(
        text("select max(rank) from lead_pool where run_id = :r and band in :bands").bindparams(
            bindparam("bands", expanding=True)
        ),
        {"r": run_id, "bands": list(LIST_BANDS)},
    ).scalar()
    # Flattened into numpy as it streams (a server-side cursor on PostgreSQL): a million
    # Row objects cost seconds, and ten million held at once a gigabyte.
    found = conn.execute(
        text("select customer_id, rank from lead_pool where run_id = :r order by rank"),
        {"r": run_id},
        execution_options={"stream_results": True, "yield_per": READ_ROWS},
    )
    pairs = np.fromiter(itertools.chain.from_iterable(found), dtype=np.int64).reshape(-1, 2)
    ids, ranks = pairs[:, 0], pairs[:, 1]
    listed = ranks <= (cut if cut is not None else 0)
    control = control_mask(ids, control_share) if len(ids) else np.zeros(0, dtype=bool)
    in_list = listed & ~control
    below = ~listed & ~control
    list_end = int(ranks[listed].max()) if listed.any() else 0
    free = [int(k) for k in ranks[control & listed]]
    wanted = int(round(exploration_share * int(in_list.sum())))
    slots = even_slots(free, min(wanted, int(below.sum())), list_end)
    probability = len(slots) / int(below.sum()) if below.any() else 0.0
    picks = np.zeros(0, dtype=np.int64)
    if slots:
        rng = np.random.default_rng(night_seed(score_date))
        # Best scored of the draw first: the order within the slice does not change who is drawn.
        picks = np.sort(rng.choice(np.flatnonzero(below), size=len(slots), replace=False))
    explored = len(picks)
    if explored:
        _log(
            conn,
            run_id,
            {
                "customer_id": ids[picks],
                "role": np.repeat(np.array(["exploration"]), explored),
                "score_rank": ranks[picks],
                "pool_rank": np.array(slots, dtype=np.int64),
                "selection_probability": np.repeat(probability, explored),
            },
        )
    if conn.dialect.name == "postgresql":
        # Just filled: without fresh statistics the planner takes it for small and probes
        # the role index once per pool row (minutes at 1M customers). The pool's own
        # statistics come with its indexes (lead_pool_index()).
        conn.execute(text("analyze lead_assignments"))
    conn.execute(
        text(
            "delete from lead_pool where run_id = :r and customer_id in (select a.customer_id "
            "from lead_assignments as a where a.run_id = :r and a.role = 'control')"
        ),
        {"r": run_id},
    )
    if explored:
        # Move each drawn lead to its slot: delete its row at its score rank, insert it at the slot.
        conn.execute(
            text(
                "delete from lead_pool where run_id = :r and customer_id in (select a.customer_id "
                "from lead_assignments as a where a.run_id = :r and a.role = 'exploration')"
            ),
            {"r": run_id},
        )
        conn.execute(
            text(
                "insert into lead_pool (run_id, score_date, rank, customer_id, band, propensity) "
                "select sc.run_id, sc.score_date, a.pool_rank, sc.customer_id, sc.band, sc.propensity "
                "from lead_assignments as a inner join customer_scores as sc "
                "on sc.run_id = a.run_id and sc.customer_id = a.customer_id and sc.score_date = :d "
                "where a.run_id = :r and a.role = 'exploration'"
            ),
            {"r": run_id, "d": as_date(score_date)},
        )
    return Selection(
        run_id,
        len(ids),
        int(control.sum()),
        int(in_list.sum()),
        int(below.sum()),
        explored,
        probability,
    )


def mark_control(conn: Connection, run_id: int, score_date, share: float = DEFAULT_CONTROL_SHARE) -> int:
    """Log run ``run_id``'s control group in lead_assignments: every customer the run scored
    whose hash falls within ``share``, whether or not the policy lets them be called tonight.

    The SQLite backend calls it in the transaction that publishes the run (PostgreSQL's
    picks the group from the ranked rows on their way: ``log_control``), so published_leads
    never lists a control customer, even when the pool's refill afterwards fails; the refill
    calls it again and keeps the rows when they were drawn with the same share. Returns the
    group's size.
    """
    drawn = conn.execute(
        text(
            "select count(*), min(selection_probability), max(selection_probability) from lead_assignments "
            "where run_id = :r and role = 'control'"
        ),
        {"r": run_id},
    ).one()
    if drawn[0] and drawn[1] == drawn[2] == float(share):
        return int(drawn[0])
    conn.execute(text("delete from lead_assignments where run_id = :r and role = 'control'"), {"r": run_id})
    if share <= 0:
        return 0
    found = conn.execute(
        text("select customer_id, rank from customer_scores where score_date = :d and run_id = :r"),
        {"r": run_id, "d": as_date(score_date)},
        execution_options={"stream_results": True, "yield_per": READ_ROWS},
    )
    pairs = np.fromiter(itertools.chain.from_iterable(found), dtype=np.int64).reshape(-1, 2)
    chosen = control_mask(pairs[:, 0], share) if len(pairs) else np.zeros(0, dtype=bool)
    return log_control(conn, run_id, pairs[chosen, 0], pairs[chosen, 1], share)


def log_control(conn: Connection, run_id: int, ids: np.ndarray, ranks: np.ndarray, share: float) -> int:
    """Write the control group's rows of run ``run_id``: ``ids`` with their score ``ranks``."""
    count = len(ids)
    if count:
        _log(
            conn,
            run_id,
            {
                "customer_id": np.asarray(ids, dtype=np.int64),
                "role": np.repeat(np.array(["control"]), count),
                "score_rank": np.asarray(ranks, dtype=np.int64),
                "pool_rank": np.array([None] * count, dtype=object),
                "selection_probability": np.repeat(float(share), count),
            },
        )
    return count


def _log(conn: Connection, run_id: int, columns: dict[str, np.ndarray]) -> None:
    """Write the night's lead_assignments rows, given column by column, a slice at a time."""
    names = ", ".join(columns)
    for start in range(0, len(columns["customer_id"]), READ_ROWS):
        part = {c: values[start : start + READ_ROWS].tolist() for c, values in columns.items()}
        if conn.dialect.name == "postgresql":
            # One statement over arrays: tens of thousands of control rows a night at 1M customers.
            types = {"customer_id": "bigint", "role": "text", "score_rank": "integer", "pool_rank": "integer"}
            arrays = ", ".join(f"cast(:{c} as {types.get(c, 'double precision')}[])" for c in columns)
            conn.execute(
                text(f"insert into lead_assignments (run_id, {names}) select :r, * from unnest({arrays})"),
                {"r": run_id, **part},
            )
        else:
            rows = [dict(zip(part, values, strict=True), r=run_id) for values in zip(*part.values(), strict=True)]
            placeholders = ", ".join(f":{c}" for c in columns)
            conn.execute(text(f"insert into lead_assignments (run_id, {names}) values (:r, {placeholders})"), rows)


def is_control(conn: Connection, run_id: int, customer_id: int) -> bool:
    return (
        conn.execute(
            text("select 1 from lead_assignments where run_id = :r and customer_id = :c and role = 'control'"),
            {"r": run_id, "c": customer_id},
        ).first()
        is not None
    )
