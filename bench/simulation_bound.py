"""How far any calling list can beat random calling in the simulated call centre.

    python bench/simulation_bound.py [--customers 100000 300000 1000000] [--seed 7]

Issue 19 asks the simulated centre for at least 2x random calling's subscriptions per 100
calls every week, and for a regime change that triples the base rate. The two meet a
hard limit: no list does better than every answered call subscribing, so against random
calling, whose answered calls subscribe at the customers' mean hidden probability p, no
list reaches more than 1 / p. This prints, for the simulation's own world (its customers,
hidden outcome model, and shift; `bank_scoring.loop.simulate.World`) on a day in each of
January (old regime), February and March (new regime): the mean hidden probability (random
calling), the mean of the hidden model's own top customers (the best any list can call,
before anyone is used up), their ratio, and the bound 1 / p. A fresh campaign is assumed
(no contacts yet).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bank_scoring.generate import generate_calls  # noqa: E402
from bank_scoring.loop.simulate import SimulationConfig, World  # noqa: E402

TOPS = (5_600, 22_400, 48_000)  # a week's, four weeks' and the whole default run's calls


def rows(customers: int, seed: int) -> list[str]:
    config = SimulationConfig(customers=customers, seed=seed)
    frame = generate_calls(customers, seed=seed).assign(campaign=0)
    world = World(frame, config)
    out = []
    for label, day_index in (("January, old regime", 5), ("February, new regime", config.change_day + 2)):
        out.append(_row(customers, label, world.probability(frame, day_index, config.start + dt.timedelta(day_index))))
    march = dt.date(config.start.year, 3, 2)
    out.append(_row(customers, "March, new regime", world.probability(frame, config.days - 1, march)))
    return out


def _row(customers: int, label: str, p: np.ndarray) -> str:
    best = np.sort(p)[::-1]
    tops = "  ".join(f"{best[:k].mean():>6.3f} ({best[:k].mean() / p.mean():.2f}x)" for k in TOPS if k <= len(best))
    return f"{customers:>10,}  {label:<21} {p.mean():>6.3f}  {tops}  {1 / p.mean():>6.2f}x"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=SimulationConfig.seed, help="the simulation's seed (default 7)")
    args = parser.parse_args(argv)
    tops = "  ".join(f"{'top ' + format(k, ','):>14}" for k in TOPS)
    print(f"{'customers':>10}  {'day':<21} {'random':>6}  {tops}  {'1 / p':>7}")
    for n in args.customers:
        for line in rows(n, args.seed):
            print(line, flush=True)
    print("random: the mean hidden probability (what random calling's answered calls subscribe at); top k: the")
    print("hidden model's own best k customers; 1 / p: the most any list can reach against random calling.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
