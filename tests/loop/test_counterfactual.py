"""The simulation's yardsticks use up their own customers under the contact policy's rules."""

import numpy as np
import pandas as pd

from bank_scoring.config import ContactRules
from bank_scoring.loop.counterfactual import Policy


def _customers(n):
    return pd.DataFrame({"age": np.arange(n)}, index=pd.Index(np.arange(1, n + 1), name="customer_id"))


def test_a_ranked_policy_does_not_call_the_same_top_customers_every_day():
    customers = _customers(100)
    scores = np.linspace(1, 0, 100)  # customer 1 best
    hidden = np.full(100, 1.0)  # everyone answered subscribes
    policy = Policy("frozen", seed=1, rules=ContactRules())
    excluded = np.zeros(100, dtype=bool)
    first = policy.day(customers, scores, hidden, excluded, 0, 10, answer_rate=1.0, campaign_end=30)
    assert first == 10.0
    # the 10 best subscribed: done for the campaign, so day 2 calls the next 10
    assert sorted(policy.finished_until) == list(range(1, 11))
    policy.day(customers, scores, hidden, excluded, 1, 10, answer_rate=1.0, campaign_end=30)
    assert sorted(policy.finished_until) == list(range(1, 21))
    # a new campaign: the subscribers of the last one are callable again
    policy.day(customers, scores, hidden, excluded, 30, 5, answer_rate=1.0, campaign_end=60)
    assert all(policy.finished_until[c] == 60 for c in range(1, 6))


def test_refusals_rest_and_unreached_customers_stop_at_the_attempt_limit():
    customers = _customers(3)
    rules = ContactRules(declined_days=10, max_campaign_attempts=2)
    excluded = np.zeros(3, dtype=bool)
    declining = Policy("random", seed=2, rules=rules)
    declining.day(customers, None, np.zeros(3), excluded, 5, 3, answer_rate=1.0, campaign_end=30)
    assert declining.finished_until == {1: 15, 2: 15, 3: 15}
    assert declining.day(customers, None, np.zeros(3), excluded, 6, 3, answer_rate=1.0, campaign_end=30) == 0.0
    unreached = Policy("random", seed=3, rules=rules)
    unreached.day(customers, None, np.ones(3), excluded, 0, 3, answer_rate=1e-12, campaign_end=30)
    assert unreached.finished_until == {}  # one unanswered call: still callable
    unreached.day(customers, None, np.ones(3), excluded, 1, 3, answer_rate=1e-12, campaign_end=30)
    assert unreached.finished_until == {1: 30, 2: 30, 3: 30}  # the second: the limit


def test_excluded_customers_are_never_called_and_the_oracle_beats_random():
    rng = np.random.default_rng(0)
    customers = _customers(2000)
    hidden = rng.beta(1, 9, 2000)
    excluded = np.zeros(2000, dtype=bool)
    excluded[::20] = True  # the control group
    oracle, random = Policy("oracle", seed=4), Policy("random", seed=5)
    got_oracle = got_random = 0.0
    for day in range(5):
        got_oracle += oracle.day(customers, hidden, hidden, excluded, day, 100, 0.75, 30)
        got_random += random.day(customers, None, hidden, excluded, day, 100, 0.75, 30)
    assert got_oracle > 2 * got_random
    called = set(oracle.finished_until) | set(random.finished_until)
    assert called.isdisjoint(set(customers.index[excluded]))
