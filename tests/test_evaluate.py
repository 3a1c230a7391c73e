import numpy as np
import pytest

from bank_scoring.evaluate import classification_metrics, expected_calibration_error, lift_at


def test_lift_of_a_perfect_ranking_is_one_over_the_base_rate():
    y = np.array([1] * 10 + [0] * 90)
    assert lift_at(y, np.linspace(1, 0, 100), 0.1) == pytest.approx(10.0)
    assert lift_at(y, np.linspace(0, 1, 100), 0.1) == pytest.approx(0.0)


def test_calibration_error_is_small_for_honest_probabilities_and_large_for_inflated_ones():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 0.5, 200_000)
    y = rng.random(200_000) < p
    assert expected_calibration_error(y, p) < 0.005
    assert expected_calibration_error(y, np.minimum(p * 2, 1)) > 0.2


def test_metrics_keys():
    y = np.array([0, 1, 0, 1, 0, 0, 0, 0, 1, 0])
    m = classification_metrics(y, np.linspace(0.1, 0.9, 10))
    assert set(m) >= {"roc_auc", "pr_auc", "lift_top_decile", "brier_score", "expected_calibration_error"}
