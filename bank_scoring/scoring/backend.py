"""The small interface each database implements for a scoring run, and the choice of one.

A backend is a module with four functions; the logic modules call them and never ask
which database they run on:

- ``partition_cuts(conn, partitions)``: ids that split the customers into near-equal ranges;
- ``read_chunk(conn, last, high, n)``: the next ``n`` customers with ids in (last, high], a DataFrame;
- ``write_scores(conn, run_id, ids, propensity)``: a chunk's scores into the staging table;
- ``publish_night(engine, night, explain, finish, profile)``: rank the staged run into
  ``customer_scores`` and make it the night agents see. ``explain(best)`` computes reason
  codes and drift beside the database's work (``best``: the best customer ids, when the
  backend has them on the way); ``finish(conn)`` writes them and the run's status inside
  the publishing transaction. Before it, in the same transaction, the backend logs the
  run's control group (``night.control_share``, bank_scoring/loop/control.py), so a
  published run always has one; on PostgreSQL before the swap's lock, from the ranked
  rows on their way into tonight's table, so readers still wait only for the swap.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from types import ModuleType

from sqlalchemy import Connection, Engine

from bank_scoring.constants import BANDS
from bank_scoring.features import CATEGORICAL, CUSTOMER_ATTRIBUTES

# A chunk of customers in id order; each backend fills in its own placeholders. Customers
# who objected to profiling are not read at all (publish counts them as suppressed).
CHUNK_SQL = (
    "select customer_id, {columns} from customers where customer_id > {last} "
    "and customer_id <= {high} and not has_objected order by customer_id limit {n}"
).replace("{columns}", ", ".join(CUSTOMER_ATTRIBUTES))
CHUNK_COLUMNS = ["customer_id", *CUSTOMER_ATTRIBUTES]
# Text columns are read as pandas categories: each distinct value is then looked at once
# by the validation, the category codes and the drift counts.
TEXT_COLUMNS = tuple(c for c in CUSTOMER_ATTRIBUTES if c in CATEGORICAL)


@dataclass(frozen=True)
class Night:
    """A complete run about to be published: its date, run, model and band boundaries."""

    score_date: dt.date
    run_id: int
    model_version: int
    scored: int
    reason_rows: int
    control_share: float = 0.0  # the run's control group, logged before it is published

    @property
    def band_cuts(self) -> tuple[int, int, int]:
        """The last rank of bands A, B and C."""
        edges, total = [], 0.0
        for _, share in BANDS[:-1]:
            total += share
            edges.append(math.ceil(self.scored * total - 1e-9))
        return tuple(edges)  # type: ignore[return-value]

    def params(self) -> dict:
        """Bind parameters of the publishing SQL."""
        a, b, c = self.band_cuts
        return {"d": self.score_date, "r": self.run_id, "v": self.model_version, "a": a, "b": b, "c": c}


def for_engine(engine: Engine | Connection) -> ModuleType:
    """The backend module of this engine's database."""
    name = engine.dialect.name
    if name == "postgresql":
        from bank_scoring.scoring import postgres

        return postgres
    if name == "sqlite":
        from bank_scoring.scoring import sqlite

        return sqlite
    raise ValueError(f"no scoring backend for {name!r}: use sqlite or postgresql")
