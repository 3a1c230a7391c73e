"""The field check: is the model right about the calls agents actually made?

For a centre-local day, over the calls that reached the customer (subscribed or declined;
each customer once per day and band, as in the team lead's figures) and were made from a
handed-out lead (a propensity recorded: a team lead's call without a claim has none and says
nothing about the model), per band and overall:

* ``actual``: the customers who subscribed;
* ``expected``: the sum of the propensities their leads were handed out with;
* the interval ``expected +- z * sqrt(sum p(1 - p))``: the number of subscriptions is a
  sum of independent Bernoulli(p) draws (Poisson-binomial) when the model is calibrated,
  with that variance, and near normal for the sizes a day brings;
* ``off``: actual outside the interval, only with at least ``MIN_CALLS`` reached calls.

A day has several rows (the bands and the total), each tested: ``z`` is taken for a
family-wise 95% (Bonferroni over the rows with enough calls), so a calibrated model raises
an alert on at most about one day in twenty; with a single row it is the usual 1.96.

The rows go to ``field_checks`` (a rerun of the day replaces them) and, when any row is
off, an alert text goes to ``scoring_runs.field_alert`` of the day's published run (and
is cleared when a rerun finds nothing off). ``bank-scoring field-check`` and the nightly
DAG run it for the previous day.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass
from statistics import NormalDist

from sqlalchemy import Engine, text

from bank_scoring.agents.figures import MIN_CALLS_FOR_ALERT, _day_bounds
from bank_scoring.scoring.runs import latest_published_run, utcnow

# Family-wise chance of a false alarm per day for a calibrated model.
ALPHA = 0.05
# Below this many reached calls a row is reported but never flagged.
MIN_CALLS = MIN_CALLS_FOR_ALERT
TOTAL = "all"


@dataclass(frozen=True)
class FieldRow:
    band: str
    calls: int
    actual: int
    expected: float
    variance: float
    z: float
    expected_low: float
    expected_high: float
    off: bool

    def describe(self) -> str:
        return (
            f"{self.band}: {self.actual} subscribed of {self.calls} reached, {self.expected:.1f} expected "
            f"(interval {self.expected_low:.1f}-{self.expected_high:.1f})"
        )


@dataclass(frozen=True)
class FieldCheck:
    day: dt.date
    time_zone: str
    bands: list[FieldRow]
    total: FieldRow
    run_id: int | None = None
    alert: str | None = None

    @property
    def off(self) -> bool:
        return self.alert is not None

    def as_dict(self) -> dict:
        return {
            "day": self.day.isoformat(),
            "time_zone": self.time_zone,
            "run_id": self.run_id,
            "off": self.off,
            "alert": self.alert,
            "bands": [asdict(r) for r in self.bands],
            "total": asdict(self.total),
        }


def _z(tested: int) -> float:
    return NormalDist().inv_cdf(1 - ALPHA / (2 * max(tested, 1)))


def _row(band: str, calls: int, actual: int, expected: float, variance: float, z: float) -> FieldRow:
    spread = z * math.sqrt(max(variance, 0.0))
    low, high = max(0.0, expected - spread), expected + spread
    off = calls >= MIN_CALLS and not (low <= actual <= high)
    return FieldRow(
        band, calls, actual, round(expected, 4), round(variance, 4), round(z, 4), round(low, 4), round(high, 4), off
    )


def measure(engine: Engine, day: dt.date) -> FieldCheck:
    """The field check of ``day`` (the centre's local day), without storing anything."""
    start, end, zone = _day_bounds(engine, day)
    sql = """
        with per_customer as (
            select coalesce(band, '-') as band, customer_id,
                   max(case when outcome = 'subscribed' then 1 else 0 end) as subscribed,
                   coalesce(max(propensity), 0) as p
            from call_outcomes
            where called_at >= :start and called_at < :end and outcome in ('subscribed', 'declined')
              and propensity is not null
            group by coalesce(band, '-'), customer_id
        )
        select band, count(*) as calls, sum(subscribed) as actual, sum(p) as expected,
               sum(p * (1 - p)) as variance
        from per_customer group by band order by band
    """
    with engine.connect() as conn:
        found = conn.execute(text(sql), {"start": start, "end": end}).all()
    raw = [(r.band, int(r.calls), int(r.actual or 0), float(r.expected or 0), float(r.variance or 0)) for r in found]
    totals = (sum(r[1] for r in raw), sum(r[2] for r in raw), sum(r[3] for r in raw), sum(r[4] for r in raw))
    tested = sum(1 for r in raw if r[1] >= MIN_CALLS) + (1 if totals[0] >= MIN_CALLS else 0)
    z = _z(tested)
    bands = [_row(*r, z) for r in raw]
    total = _row(TOTAL, *totals, z)
    off = [r for r in (*bands, total) if r.off]
    alert = None
    if off:
        alert = "model off in the field on {}: {}".format(day.isoformat(), "; ".join(r.describe() for r in off))
    return FieldCheck(day, zone, bands, total, alert=alert)


def field_check(engine: Engine, day: dt.date) -> FieldCheck:
    """Measure ``day``, store its rows in ``field_checks`` and the alert on the day's run.

    Idempotent: a rerun replaces the day's rows and the run's alert (cleared when nothing
    is off). The run is the published run of ``day`` (the leads called that day); with
    none, only the rows are stored.
    """
    found = measure(engine, day)
    run = latest_published_run(engine, day)
    run_id = run.run_id if run else None
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(text("delete from field_checks where check_day = :d"), {"d": day})
        for r in (*found.bands, found.total):
            conn.execute(
                text(
                    "insert into field_checks (check_day, band, calls, actual, expected, variance, z, "
                    "expected_low, expected_high, is_off, run_id, checked_at) values (:d, :band, :calls, "
                    ":actual, :expected, :variance, :z, :expected_low, :expected_high, :off, :run, :now)"
                ),
                {"d": day, "run": run_id, "now": now, **asdict(r)},
            )
        if run_id is not None:
            conn.execute(
                text("update scoring_runs set field_alert = :a where run_id = :r"),
                {"a": found.alert, "r": run_id},
            )
    return FieldCheck(found.day, found.time_zone, found.bands, found.total, run_id=run_id, alert=found.alert)


def stored_field_check(engine: Engine, day: dt.date) -> list[dict]:
    """The stored rows of ``day`` (bands, then 'all'), [] when the day was not checked."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "select band, calls, actual, expected, expected_low, expected_high, is_off from field_checks "
                "where check_day = :d order by case when band = :t then 1 else 0 end, band"
            ),
            {"d": day, "t": TOTAL},
        ).mappings()
        return [{**dict(r), "is_off": bool(r["is_off"])} for r in rows]


def format_field_check(found: FieldCheck) -> str:
    lines = [f"field check of {found.day} ({found.time_zone})" + (f", run {found.run_id}" if found.run_id else "")]
    lines.append(f"  {'band':<12}{'reached':>9}{'subscribed':>12}{'expected':>10}  interval        off")
    for r in (*found.bands, found.total):
        lines.append(
            f"  {r.band:<12}{r.calls:>9}{r.actual:>12}{r.expected:>10.1f}  "
            f"{r.expected_low:>6.1f}-{r.expected_high:<8.1f}{'OFF' if r.off else ''}"
        )
    if not found.bands:
        lines.append("  (no reached calls)")
    lines.append(f"ALERT: {found.alert}" if found.alert else "the model's probabilities hold in the field")
    return "\n".join(lines)
