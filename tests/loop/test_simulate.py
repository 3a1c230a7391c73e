"""The simulated call centre runs the real loop end to end, on both databases, at a small size."""

import datetime as dt

import numpy as np
import pytest
from sqlalchemy import text

from bank_scoring.cli import main
from bank_scoring.loop.simulate import SimulationConfig, World, simulate
from bank_scoring.loop.simulate_report import format_weeks, verdicts, write_page

SMALL = SimulationConfig(
    days=6, agents=3, calls_per_agent=8, customers=2500, seed=11, regime_day=3, retrain_every=2, estimator="auto"
)


def test_a_small_simulation_runs_the_whole_loop(engine, tmp_path):
    result = simulate(engine, tmp_path / "models", SMALL, say=lambda line: None)
    days, calls = result.days, result.calls
    assert len(days) == 6 and days["calls"].sum() == len(calls) > 0
    with engine.connect() as conn:
        recorded = conn.execute(text("select count(*) from call_outcomes")).scalar()
        runs = conn.execute(text("select count(*) from scoring_runs where status = 'published'")).scalar()
        harvested = conn.execute(
            text("select count(*) from campaign_contacts where call_outcome_id is not null")
        ).scalar()
        answered = conn.execute(
            text("select count(*) from call_outcomes where outcome in ('subscribed', 'declined')")
        ).scalar()
        versions = conn.execute(text("select count(*) from model_versions")).scalar()
    assert recorded == len(calls)  # every simulated call went through record_outcome
    assert runs == 6  # one published night a day
    assert harvested >= answered > 0  # every reached call became a training row (no answer may wait)
    assert versions == 1 + len(result.retrains) == 3  # the first model, then a retrain every 2 days
    assert [r["day_index"] for r in result.retrains] == [1, 3]
    # the loop calls its best leads: it expects more than random calling of as many customers
    assert days["ours_expected"].sum() > days["random_expected"].sum()
    # the hidden model's own choice is the ceiling of any policy's
    assert days["oracle_expected"].sum() >= days["frozen_expected"].sum()
    assert days["oracle_expected"].sum() > days["random_expected"].sum()
    new = days[days["new_regime"]]
    old = days[~days["new_regime"]]
    assert new["random_expected"].sum() / new["calls"].sum() > 1.5 * old["random_expected"].sum() / old["calls"].sum()
    uplift = result.uplift  # the control group: never called, measured against the others
    assert list(uplift["campaign"]) == ["simulation-1", "simulation-2"]
    assert (uplift["control_customers"] > 0).all() and (uplift["control_called"] == 0).all()
    assert set(calls["customer_id"]).isdisjoint(_control(engine))
    weeks = result.weeks()
    assert weeks["calls"].sum() == len(calls) and {"ours/100", "oracle"} <= set(format_weeks(weeks).split())
    assert any("2x random" in line for line in verdicts(result, weeks))
    # no list beats every answered call subscribing: the oracle stays within the week's bound
    assert (weeks["oracle_per_100"] <= weeks["most_possible_ratio"] * weeks["random_per_100"] + 1e-9).all()
    # ... which is every answered call a subscription: the answer rate, per 100 calls
    assert np.allclose(weeks["most_possible_ratio"] * weeks["random_per_100"], 100 * SMALL.answer_rate)
    assert (weeks["most_possible_ratio"] >= 1).all()
    crowded = weeks.assign(random_per_100=60.0, most_possible_ratio=100 * SMALL.answer_rate / 60.0)
    assert any("out of reach of any list" in line and "1.25x" in line for line in verdicts(result, crowded))
    page = write_page(result, tmp_path / "report")
    assert page.read_text().count("<tr>") == len(weeks) + 1
    assert (tmp_path / "report" / "simulation.png").read_bytes().startswith(b"\x89PNG")


def test_the_new_regime_multiplies_the_base_rate():
    import pandas as pd

    from bank_scoring.generate import generate_calls

    customers = generate_calls(4000, seed=3).assign(campaign=0)
    world = World(customers, SimulationConfig(days=10, regime_day=5, regime_factor=3.0))
    day = dt.date(2026, 1, 10)
    before, after = world.probability(customers, 4, day).mean(), world.probability(customers, 5, day).mean()
    assert after == pytest.approx(3 * before, rel=1e-3)
    assert isinstance(customers, pd.DataFrame) and np.isfinite(world.shift)


def test_simulate_command_writes_its_report(tmp_path, capsys):
    out = tmp_path / "sim"
    code = main(
        ["simulate", "--days", "3", "--agents", "2", "--calls-per-agent", "4", "--customers", "1500"]
        + ["--retrain-every", "2", "--out", str(out)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "ours/100" in printed and f"report: {out / 'index.html'}" in printed
    assert "control customers called: 0" in printed
    assert (out / "calls.csv").is_file() and (out / "simulation.db").is_file()
    import json

    described = json.loads((out / "config.json").read_text())
    assert described["customers"] == 1500 and described["days"] == 3 and "world_shift" in described
    # the bench that chose the exploration rows' weights reads a finished simulation
    import subprocess
    import sys
    from pathlib import Path

    bench = Path(__file__).resolve().parents[2] / "bench" / "exploration_weights.py"
    done = subprocess.run([sys.executable, str(bench), "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "capped at 10" in done.stdout and "uncapped" in done.stdout and "random calling" in done.stdout
    # and the bench that refits each retrain and judges it on the week it would serve
    refit = Path(__file__).resolve().parents[2] / "bench" / "loop_refit.py"
    variants = ["default", "hist_gradient_boosting+season-apart+no-recalibration"]
    done = subprocess.run(
        [sys.executable, str(refit), "--out", str(out), "--days", "2", "--variants", *variants],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.strip().startswith("2 ")]
    assert [r[-3] for r in rows] == variants
    for r in rows:  # calls, the rate that came true, the mean propensity and the ECE
        assert int(r[4]) > 0 and 0 <= float(r[5]) <= 1 and 0 < float(r[-2]) < 1 and 0 <= float(r[-1]) <= 1
    refused = subprocess.run([sys.executable, str(refit), "--out", str(out), "--variants", "default+bagged"])
    assert refused.returncode == 2
    with pytest.raises(SystemExit) as refused:
        main(["simulate", "--days", "0"])
    assert refused.value.code == 2


def _control(engine) -> set[int]:
    with engine.connect() as conn:
        return {
            int(r[0]) for r in conn.execute(text("select customer_id from lead_assignments where role = 'control'"))
        }
