"""The champion/challenger gate: a new model is promoted only when it ranks better than
the champion beyond the noise, on the same held-out calls, and is not worse calibrated."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from bank_scoring.evaluate import expected_calibration_error, paired_bootstrap

# Paired bootstrap resamples of the holdout, and the calibration error a champion may have at most.
BOOTSTRAP_RESAMPLES = 1000
CALIBRATION_LIMIT = 0.02


class Decision(NamedTuple):
    status: str  # what the new version becomes: champion, candidate or rejected
    reason: str  # why, in the words kept in the version's history
    bootstrap: dict | None  # the gate's intervals (None when there was no champion)


def gate(y_holdout, challenger, champion) -> tuple[bool, str, dict]:
    """Promote only when the challenger is better beyond the noise, and not worse calibrated.

    Better: the lower bound of the 95% paired-bootstrap interval of (challenger - champion)
    ROC AUC is above zero, i.e. on resampled held-out calls the challenger ranks better
    in at least 97.5% of draws. A fixed margin would be too strict on a large holdout and
    too lax on a small one; the interval scales with the holdout. Not worse calibrated:
    the interval of the calibration-error difference must reach zero or below (it is not
    demonstrably worse), and the challenger's own ECE must stay within CALIBRATION_LIMIT.
    """
    boot = paired_bootstrap(y_holdout, challenger, champion, resamples=BOOTSTRAP_RESAMPLES)
    auc = f"ROC AUC {boot['roc_auc_diff']:+.4f} (95% CI {boot['roc_auc_low']:+.4f} to {boot['roc_auc_high']:+.4f})"
    ece_new = expected_calibration_error(y_holdout, challenger)
    ece = (
        f"calibration error {boot['expected_calibration_error_diff']:+.4f} (95% CI "
        f"{boot['expected_calibration_error_low']:+.4f} to {boot['expected_calibration_error_high']:+.4f})"
    )
    if boot["roc_auc_low"] <= 0:
        return False, f"not better beyond the noise: {auc}", boot
    if boot["expected_calibration_error_low"] > 0 or ece_new > CALIBRATION_LIMIT:
        return False, f"better ranked ({auc}) but worse calibrated: {ece}, ECE {ece_new:.4f}", boot
    return True, f"better: {auc}; {ece}", boot


def decide(
    promote: str,
    champion_version: int | None,
    y_holdout: np.ndarray,
    challenger: np.ndarray,
    champion: np.ndarray | None,
    challenger_auc: float,
    champion_auc: float | None,
) -> Decision:
    """What a new version becomes, given the promotion mode and the gate's verdict.

    ``promote``: "if_better" follows the gate, "always" and "never" override it (the
    gate's verdict is still recorded). The first model becomes the champion.
    """
    if champion_version is None or champion is None:
        return Decision("champion", "first model: no champion yet", None)
    compared = (
        f"ROC AUC {challenger_auc:.4f} vs champion v{champion_version} {champion_auc:.4f} on the same held-out calls"
    )
    better, why, boot = gate(y_holdout, challenger, champion)
    if promote == "always":
        return Decision("champion", f"promoted on request; {compared}; gate said: {why}", boot)
    if promote == "never":
        return Decision("candidate", f"kept as candidate on request; {compared}; gate said: {why}", boot)
    if better:
        return Decision("champion", f"promoted: {compared}; {why}", boot)
    return Decision("rejected", f"rejected: {compared}; {why}", boot)
