"""The simulation's yardsticks: other ways the same centre could have spent its calls.

Each policy makes as many calls a day as the loop made, to the same customers (their
attributes as the loop's calls left them, and the same hidden outcome model), but keeps
its own book of who is finished, by the contact policy's rules: a customer it reached who
subscribed is done for the campaign, one who declined for ``declined_days``, one not
reached after ``max_campaign_attempts`` calls for the campaign. The control group is never called,
as by the loop. So a policy uses up its own best customers as the loop does, instead of
calling the same top of the list day after day for nothing.

- ``frozen``: the first champion, never retrained, calling its best eligible customers;
- ``random``: eligible customers drawn at random;
- ``oracle``: the customers most likely to subscribe today by the hidden model itself.
  A strong yardstick, not an upper bound: it is greedy day by day, so it spends its best
  customers early, and a model that keeps some for later can beat it in a later week.

A day's figure is the expected number of subscriptions (answer rate x hidden
probability, summed over the called customers: less noise than a draw); who is finished
afterwards is drawn, with the policy's own generator.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bank_scoring.config import ContactRules


class Policy:
    """One counterfactual calling policy with its own record of finished customers."""

    def __init__(self, name: str, seed: int, rules: ContactRules | None = None):
        self.name = name
        self.rules = rules or ContactRules()
        self.rng = np.random.default_rng(seed)
        self.finished_until: dict[int, int] = {}  # customer -> first day index callable again
        self.attempts: dict[tuple[int, int], int] = {}  # (customer, campaign end) -> calls

    def day(
        self,
        customers: pd.DataFrame,
        scores: np.ndarray | None,
        hidden: np.ndarray,
        excluded: np.ndarray,
        day_index: int,
        calls: int,
        answer_rate: float,
        campaign_end: int,
    ) -> float:
        """Call ``calls`` eligible customers today; the expected subscriptions.

        ``scores`` rank the customers (higher first; None calls at random); ``hidden`` is
        each customer's hidden probability today; ``excluded`` a mask of customers nobody
        may call (control group, do not call); ``campaign_end`` the day index after the
        current campaign's last day.
        """
        ids = customers.index.to_numpy()
        finished = np.array([self.finished_until.get(int(c), -1) > day_index for c in ids], dtype=bool)
        eligible = np.flatnonzero(~excluded & ~finished)
        k = min(len(eligible), calls)
        if k == 0:
            return 0.0
        if scores is None:
            chosen = self.rng.choice(eligible, size=k, replace=False)
        else:
            chosen = eligible[np.argsort(-np.asarray(scores, dtype=float)[eligible], kind="stable")[:k]]
        p = hidden[chosen]
        answered = self.rng.random(k) < answer_rate
        subscribed = answered & (self.rng.random(k) < p)
        for index, yes, reached in zip(chosen, subscribed, answered, strict=True):
            customer = int(ids[index])
            if yes:
                self.finished_until[customer] = campaign_end
            elif reached:
                self.finished_until[customer] = day_index + self.rules.declined_days
            else:
                tries = self.attempts.get((customer, campaign_end), 0) + 1
                self.attempts[(customer, campaign_end)] = tries
                if tries >= self.rules.max_campaign_attempts:
                    self.finished_until[customer] = campaign_end
        return answer_rate * float(p.sum())
