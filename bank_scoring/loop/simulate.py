"""A simulated call centre: the real nightly loop, day after day, against customers whose
answers a hidden outcome model decides.

Every simulated day runs the product's own code on its own database: the campaign
attributes roll over (``roll_customer_attributes``), the night scores and publishes
(``score_customers``), agents take leads and record calls under the contact policy
(``next_lead``, ``record_outcome``), finished calls are harvested into training rows
(``harvest_calls``) and, when due, a retrain runs through the gate (``train_model``).

The customers come from the generator and answer with its hidden model
(``generate.outcome_logit``): a call is answered with probability ``answer_rate``; an
answered customer subscribes with the hidden probability, else declines (or, now and then,
asks to be called back tomorrow). Halfway through, the regime changes: the hidden log-odds
move so that the base rate is ``regime_factor`` times what it was (bank-full's went from 5%
to 52% between 2008 and 2010).

Besides our loop's real calls, each day also measures two policies on the same eligible
customers by their hidden probabilities (expected, not drawn): a frozen model (the first
champion, never retrained) calling its own best leads, and calling at random. The report
is in ``simulate_report``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit
from sqlalchemy import Engine, text

from bank_scoring import registry
from bank_scoring.agents import claims, errors, users
from bank_scoring.config import contact_rules_from, selection_shares
from bank_scoring.db import init_db
from bank_scoring.features import CUSTOMER_ATTRIBUTES, counting_the_call, feature_frame, month_name
from bank_scoring.generate import generate_calls, outcome_logit, synthetic_fingerprint
from bank_scoring.ingest import load_frame
from bank_scoring.loop.control import control_mask
from bank_scoring.loop.counterfactual import Policy
from bank_scoring.loop.harvest import harvest_calls
from bank_scoring.loop.roll import roll_customer_attributes
from bank_scoring.scoring import score_customers
from bank_scoring.training import train_model

log = logging.getLogger(__name__)

# Calls are made between these hours, UTC (inside the centre's default 09:00-21:00 in
# Lisbon in winter and in summer).
FIRST_CALL = dt.time(9, 30)
CALLING_HOURS = 10


@dataclasses.dataclass(frozen=True)
class SimulationConfig:
    days: int = 60
    agents: int = 20
    calls_per_agent: int = 40
    customers: int = 100_000
    seed: int = 7
    start: dt.date = dt.date(2026, 1, 5)
    regime_day: int | None = None  # the first day of the new regime (default: halfway)
    regime_factor: float = 3.0
    retrain_every: int = 7
    answer_rate: float = 0.75
    callback_rate: float = 0.05
    # Customers also subscribe on their own, uncalled: each day with this share of their
    # hidden probability. The control group's rate of it is what calling is measured against.
    organic_rate: float = 0.01
    estimator: str = "auto"

    def __post_init__(self):
        for name in ("days", "agents", "calls_per_agent", "customers", "retrain_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.answer_rate <= 1 or not 0 <= self.callback_rate < 1:
            raise ValueError("answer_rate must be in (0, 1] and callback_rate in [0, 1)")
        if self.regime_factor <= 0:
            raise ValueError(f"regime_factor must be positive, got {self.regime_factor}")

    @property
    def change_day(self) -> int:
        return self.regime_day if self.regime_day is not None else self.days // 2


@dataclasses.dataclass
class SimulationResult:
    config: SimulationConfig
    days: pd.DataFrame  # one row per simulated day
    calls: pd.DataFrame  # one row per recorded call
    retrains: list[dict]
    uplift: pd.DataFrame  # per campaign: control and treated customers' subscription rates
    world_shift: float = 0.0  # the hidden log-odds' shift from the regime change on

    def describe(self) -> dict:
        """The run's settings and hidden shift, as saved next to its report (config.json)."""
        return {k: str(v) if isinstance(v, dt.date) else v for k, v in dataclasses.asdict(self.config).items()} | {
            "world_shift": self.world_shift
        }

    def weeks(self) -> pd.DataFrame:
        """Per week: calls, subscriptions per 100 calls (ours, frozen, random, oracle), the most any
        list could reach against random, field ECE."""
        from bank_scoring.evaluate import expected_calibration_error

        rows = []
        for week, part in self.days.groupby("week"):
            calls = self.calls[self.calls["week"] == week]
            answered = calls[calls["outcome"].isin(["subscribed", "declined"])]
            rows.append(
                {
                    "week": int(week),
                    "first_day": part["date"].min(),
                    "regime": "new" if part["new_regime"].any() else "old",
                    "calls": int(part["calls"].sum()),
                    "ours_per_100": 100 * part["subscribed"].sum() / max(1, part["calls"].sum()),
                    "ours_expected_per_100": 100 * part["ours_expected"].sum() / max(1, part["calls"].sum()),
                    "frozen_per_100": 100 * part["frozen_expected"].sum() / max(1, part["calls"].sum()),
                    "random_per_100": 100 * part["random_expected"].sum() / max(1, part["calls"].sum()),
                    "oracle_per_100": 100 * part["oracle_expected"].sum() / max(1, part["calls"].sum()),
                    # No list does better than every answered call subscribing; against random
                    # calling's rate that caps the ratio any list can reach this week.
                    "most_possible_ratio": self.config.answer_rate
                    * part["calls"].sum()
                    / max(1e-9, part["random_expected"].sum()),
                    "field_ece_ours": expected_calibration_error(
                        answered["subscribed"].to_numpy(), answered["propensity"].to_numpy()
                    )
                    if len(answered)
                    else np.nan,
                    "field_ece_frozen": expected_calibration_error(
                        answered["subscribed"].to_numpy(), answered["frozen_propensity"].to_numpy()
                    )
                    if len(answered)
                    else np.nan,
                    "model_versions": ",".join(str(v) for v in sorted(part["model_version"].unique())),
                    "retrains": int(part["retrained"].sum()),
                }
            )
        return pd.DataFrame(rows)


class World:
    """The hidden outcome model: the generator's log-odds plus the regime's shift."""

    def __init__(self, customers: pd.DataFrame, config: SimulationConfig):
        base = self.logit(customers, config.start + dt.timedelta(days=config.change_day), 0.0)
        target = min(0.95, config.regime_factor * float(expit(base).mean()))
        self.shift = brentq(lambda s: float(expit(base + s).mean()) - target, -20, 20)
        self.config = config

    @staticmethod
    def logit(customers: pd.DataFrame, day: dt.date, shift: float) -> np.ndarray:
        c = customers
        return shift + outcome_logit(
            c["job"],
            np.full(len(c), month_name(day)),
            c["previous_outcome"],
            c["contact_channel"],
            c["has_housing_loan"].astype(bool),
            c["has_personal_loan"].astype(bool),
            c["has_credit_default"].astype(bool),
            c["balance"],
            c["campaign"].astype(float) + 1,  # this call counts in the campaign
            c["age"],
            c["marital"],
            c["education"],
        )

    def probability(self, customers: pd.DataFrame, day_index: int, day: dt.date) -> np.ndarray:
        shift = self.shift if day_index >= self.config.change_day else 0.0
        return expit(self.logit(customers, day, shift))


def _customers(engine: Engine) -> pd.DataFrame:
    columns = ", ".join(CUSTOMER_ATTRIBUTES)
    with engine.connect() as conn:
        return pd.read_sql_query(
            text(f"select customer_id, {columns} from customers order by customer_id"),
            conn,
            index_col="customer_id",
        )


def _setup(engine: Engine, model_dir: Path, config: SimulationConfig, say: Callable[[str], None]):
    init_db(engine)
    frame = generate_calls(config.customers, seed=config.seed)
    load_frame(engine, frame, f"simulation-{config.seed}", synthetic_fingerprint(config.customers, config.seed))
    end = config.start + dt.timedelta(days=config.days - 1)
    change = config.start + dt.timedelta(days=config.change_day)
    with engine.begin() as conn:
        conn.execute(text("delete from campaigns where campaign_name like 'simulation-%'"))
        campaigns = [("simulation-1", config.start, change - dt.timedelta(days=1)), ("simulation-2", change, end)]
        for name, starts, ends in campaigns:
            if starts <= ends:
                conn.execute(
                    text("insert into campaigns (campaign_name, starts_on, ends_on) values (:n, :s, :e)"),
                    {"n": name, "s": starts, "e": ends},
                )
    agents = [f"sim-agent-{i:02d}" for i in range(1, config.agents + 1)]
    for name in agents:
        users.add_user(engine, name, "agent")
    first = train_model(engine, model_dir, estimator=config.estimator, actor="simulation")
    say(f"loaded {config.customers:,} generated customers; v{first.model_version} ({first.algorithm}) trained")
    return agents, registry.load_model(registry.require_champion(engine))


def _call_day(engine, agents, config, world, day_index, day, customers, rng, calls_out) -> dict:
    """The agents' day: each takes and records up to calls_per_agent leads."""
    made = subscribed = 0
    expected = 0.0
    step = dt.timedelta(hours=CALLING_HOURS) / config.calls_per_agent
    first = dt.datetime.combine(day, FIRST_CALL)
    for round_no in range(config.calls_per_agent):
        for offset, agent in enumerate(agents):
            now = first + round_no * step + dt.timedelta(seconds=offset)
            try:
                lead = claims.next_lead(engine, agent, now)
            except errors.AgentError as exc:
                log.warning("%s at %s: %s", agent, now, exc)
                continue
            if lead is None:
                continue
            row = customers.loc[[lead.customer_id]]
            p = float(world.probability(row, day_index, day)[0])
            callback_at = None
            if rng.random() >= config.answer_rate:
                outcome = "no_answer"
            elif rng.random() < p:
                outcome = "subscribed"
            elif rng.random() < config.callback_rate:
                outcome, callback_at = "call_back", dt.datetime.combine(day + dt.timedelta(days=1), dt.time(10))
            else:
                outcome = "declined"
            try:
                claims.record_outcome(engine, agent, lead.customer_id, outcome, now, callback_at=callback_at)
            except errors.BadOutcome:  # tomorrow is after the campaign: no callback, a refusal
                outcome, callback_at = "declined", None
                claims.record_outcome(engine, agent, lead.customer_id, outcome, now)
            made += 1
            subscribed += outcome == "subscribed"
            expected += config.answer_rate * p
            calls_out.append(
                {
                    "day_index": day_index,
                    "customer_id": lead.customer_id,
                    "propensity": lead.propensity,
                    "hidden_probability": p,
                    "outcome": outcome,
                    "subscribed": int(outcome == "subscribed"),
                    "run_id": lead.run_id,
                }
            )
    return {"calls": made, "subscribed": subscribed, "ours_expected": expected}


def _counterfactuals(engine, policies, frozen, hidden, config, day_index, day, customers, calls_made) -> dict:
    """What the frozen model, random calling and the oracle expect from as many calls today,
    each using up its own customers (``counterfactual.Policy``); ``hidden`` is today's hidden
    probability of each customer."""
    with engine.connect() as conn:
        do_not_call = {
            int(r.customer_id)
            for r in conn.execute(text("select distinct customer_id from call_outcomes where outcome = 'do_not_call'"))
        }
    excluded = control_mask(customers.index, selection_shares()[0]) | customers.index.isin(do_not_call)
    campaign_end = config.days if day_index >= config.change_day else config.change_day
    frozen_scores = frozen.predict(
        counting_the_call(feature_frame(customers, month_name(day), day.day, float(day.year)))
    )
    expected = {
        f"{policy.name}_expected": policy.day(
            customers,
            {"frozen": frozen_scores, "oracle": hidden}.get(policy.name),
            hidden,
            excluded,
            day_index,
            calls_made,
            config.answer_rate,
            campaign_end,
        )
        for policy in policies
    }
    return expected | {"frozen_scores": pd.Series(frozen_scores, index=customers.index)}


def simulate(
    engine: Engine, model_dir: Path, config: SimulationConfig, say: Callable[[str], None] = print
) -> SimulationResult:
    """Run ``config.days`` days of the loop on a new database; returns what happened."""
    rng = np.random.default_rng(config.seed)
    agents, frozen = _setup(engine, Path(model_dir), config, say)
    world = World(_customers(engine), config)
    rules = contact_rules_from(dict(os.environ))
    policies = [Policy(name, config.seed + i, rules) for i, name in enumerate(("frozen", "random", "oracle"), 1)]
    say(f"regime change on day {config.change_day + 1}: hidden log-odds {world.shift:+.2f}")
    days, calls, retrains = [], [], []
    organic: dict[int, int] = {}  # customer -> day index of an uncalled subscription
    for day_index in range(config.days):
        day = config.start + dt.timedelta(days=day_index)
        roll_customer_attributes(engine, day, now=dt.datetime.combine(day, dt.time(0, 30)))
        run = score_customers(engine, day, now=dt.datetime.combine(day, dt.time(1)))
        customers = _customers(engine)
        hidden = world.probability(customers, day_index, day)
        before = len(calls)
        figures = _call_day(engine, agents, config, world, day_index, day, customers, rng, calls)
        counter = _counterfactuals(
            engine, policies, frozen, hidden, config, day_index, day, customers, figures["calls"]
        )
        for call in calls[before:]:
            call["frozen_propensity"] = float(counter["frozen_scores"].get(call["customer_id"], np.nan))
        _organic_day(hidden, config, day_index, customers, rng, organic)
        harvest_calls(engine, now=dt.datetime.combine(day, dt.time(23)))
        retrained = (day_index + 1) % config.retrain_every == 0 and day_index + 1 < config.days
        if retrained:
            result = train_model(engine, model_dir, estimator=config.estimator, actor="simulation")
            retrains.append(
                {"day_index": day_index, "model_version": result.model_version, "status": result.status}
                | {"decision": result.decision}
            )
            say(f"day {day_index + 1}: retrained v{result.model_version} ({result.algorithm}): {result.decision}")
        days.append(
            {
                "day_index": day_index,
                "date": day,
                "week": day_index // 7,
                "new_regime": day_index >= config.change_day,
                "run_id": run.run_id,
                "model_version": run.model_version,
                "retrained": retrained,
                **figures,
                "frozen_expected": counter["frozen_expected"],
                "random_expected": counter["random_expected"],
                "oracle_expected": counter["oracle_expected"],
            }
        )
        say(
            f"day {day_index + 1}/{config.days} {day}: {figures['calls']} calls, {figures['subscribed']} subscribed "
            f"(model v{run.model_version})"
        )
    calls_frame = pd.DataFrame(calls)
    if len(calls_frame):
        calls_frame["week"] = calls_frame["day_index"] // 7
        calls_frame["frozen_propensity"] = calls_frame["frozen_propensity"].fillna(calls_frame["propensity"])
    uplift = _uplift(engine, config, calls_frame, organic, len(customers))
    return SimulationResult(config, pd.DataFrame(days), calls_frame, retrains, uplift, world.shift)


def _organic_day(hidden, config, day_index, customers, rng, organic: dict[int, int]) -> None:
    """Today's uncalled subscriptions: a customer not yet subscribed this campaign may
    subscribe on their own, with ``organic_rate`` times their hidden probability."""
    p = config.organic_rate * hidden
    campaign_start = config.change_day if day_index >= config.change_day else 0
    for customer_id in customers.index[rng.random(len(customers)) < p]:
        if organic.get(int(customer_id), -1) < campaign_start:
            organic[int(customer_id)] = day_index


def _uplift(engine, config, calls: pd.DataFrame, organic: dict[int, int], customers: int) -> pd.DataFrame:
    """Per campaign: the share of control customers (never called) who subscribed on their
    own, against the share of the other customers who subscribed, called or not. The
    difference is what calling added, measured the way the bank would measure it."""
    with engine.connect() as conn:
        control = {
            int(r[0])
            for r in conn.execute(text("select distinct customer_id from lead_assignments where role = 'control'"))
        }
    rows = []
    campaigns = [("simulation-1", 0, config.change_day), ("simulation-2", config.change_day, config.days)]
    for name, first, end in campaigns:
        if first >= end:
            continue
        part = calls[(calls["day_index"] >= first) & (calls["day_index"] < end)] if len(calls) else calls
        by_call = set(part.loc[part["subscribed"] == 1, "customer_id"].astype(int)) if len(part) else set()
        on_own = {c for c, d in organic.items() if first <= d < end}
        subscribed = by_call | on_own
        control_rate = len(subscribed & control) / max(1, len(control))
        treated = customers - len(control)
        treated_rate = len(subscribed - control) / max(1, treated)
        rows.append(
            {
                "campaign": name,
                "control_customers": len(control),
                "control_subscribed": len(subscribed & control),
                "control_rate": control_rate,
                "treated_customers": treated,
                "treated_subscribed": len(subscribed - control),
                "treated_rate": treated_rate,
                "uplift": treated_rate - control_rate,
                "control_called": int(part["customer_id"].isin(control).sum()) if len(part) else 0,
            }
        )
    return pd.DataFrame(rows)
