"""The champion/challenger gate: promoted only when better beyond the noise and not worse calibrated."""

import numpy as np
import pytest

from bank_scoring import registry
from bank_scoring.evaluate import _fast_auc, paired_bootstrap
from bank_scoring.training import decide, gate, train_model


@pytest.fixture(scope="module")
def holdout():
    rng = np.random.default_rng(3)
    true_p = 1 / (1 + np.exp(-rng.normal(-2.2, 1.2, 6000)))
    y = (rng.random(6000) < true_p).astype(int)
    return y, true_p, rng


def test_fast_auc_is_the_usual_auc(holdout):
    from sklearn.metrics import roc_auc_score

    y, p, _ = holdout
    assert _fast_auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert _fast_auc(y, np.round(p, 1)) == pytest.approx(roc_auc_score(y, np.round(p, 1)), abs=1e-12)


def test_a_clearly_better_calibrated_challenger_is_promoted(holdout):
    y, p, rng = holdout
    weak = np.clip(p + rng.normal(0, 0.15, len(p)), 0.001, 0.999)  # a noisy champion
    promoted, why, boot = gate(y, p, weak)
    assert promoted, why
    assert boot["roc_auc_low"] > 0 and "95% CI" in why


def test_a_challenger_within_the_noise_is_rejected(holdout):
    y, p, rng = holdout
    twin = np.clip(p + rng.normal(0, 0.002, len(p)), 0.001, 0.999)
    promoted, why, boot = gate(y, twin, p)
    assert not promoted
    assert why.startswith("not better beyond the noise")
    assert boot["roc_auc_low"] <= 0 <= boot["roc_auc_high"]


def test_better_ranking_with_worse_calibration_is_rejected(holdout):
    y, p, rng = holdout
    weak = np.clip(p + rng.normal(0, 0.15, len(p)), 0.001, 0.999)
    overconfident = np.clip(p * 2.5, 0, 1)  # same order as the truth, probabilities far too high
    promoted, why, _ = gate(y, overconfident, weak)
    assert not promoted
    assert "worse calibrated" in why


def test_the_promotion_mode_overrides_the_gate_and_the_first_model_is_champion(holdout):
    y, p, rng = holdout
    twin = np.clip(p + rng.normal(0, 0.002, len(p)), 0.001, 0.999)
    first = decide("if_better", None, y, p, None, 0.8, None)
    assert (first.status, first.reason, first.bootstrap) == ("champion", "first model: no champion yet", None)
    rejected = decide("if_better", 3, y, twin, p, 0.80, 0.80)
    assert rejected.status == "rejected" and "vs champion v3" in rejected.reason
    forced = decide("always", 3, y, twin, p, 0.80, 0.80)
    assert forced.status == "champion" and forced.reason.startswith("promoted on request")
    assert "gate said: not better beyond the noise" in forced.reason
    kept = decide("never", 3, y, p, twin, 0.80, 0.80)
    assert kept.status == "candidate" and kept.bootstrap is not None


def test_bootstrap_is_reproducible(holdout):
    y, p, rng = holdout
    other = np.clip(p + rng.normal(0, 0.05, len(p)), 0, 1)
    assert paired_bootstrap(y, p, other, resamples=200) == paired_bootstrap(y, p, other, resamples=200)


def test_every_decision_is_in_the_history_with_its_reason_and_run(loaded_engine, model_dir):
    first = train_model(loaded_engine, model_dir, actor="airflow:scheduled__2026-11-22")
    # The same estimator with another seed: a different holdout split, but no real gain.
    second = train_model(loaded_engine, model_dir, seed=7, actor="airflow:manual__2026-11-28")
    events = registry.events(loaded_engine)
    assert [(e["model_version"], e["event"]) for e in events if e["event"] in ("promoted", "rejected")][0] == (
        first.model_version,
        "promoted",
    )
    last = [e for e in events if e["model_version"] == second.model_version and e["event"] != "registered"]
    assert last and last[-1]["actor"] == "airflow:manual__2026-11-28"
    assert "95% CI" in last[-1]["reason"]
    if second.status == "rejected":
        assert registry.require_champion(loaded_engine).model_version == first.model_version
    assert second.metrics["gate_bootstrap"]["resamples"] >= 990
