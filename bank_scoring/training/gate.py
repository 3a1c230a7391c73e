"""The champion/challenger gate: a new model is promoted only when it ranks better than
the champion beyond the noise, on the same held-out calls, and is not worse calibrated.

Where the calls' dates are known, "ranks better" means what the nightly list needs: a
better order among customers called on the same day (same-day AUC), over the most
recent held-out calls, with whole days resampled. Without dates (a shuffled file) the
gate falls back to pooled ROC AUC over the whole holdout."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from bank_scoring.evaluate import expected_calibration_error, paired_bootstrap, paired_day_bootstrap
from bank_scoring.training.calibration import recent_mask

# Paired bootstrap resamples of the holdout, and the calibration error a champion may have
# at most: over the whole holdout (undated calls), and over the most recent held-out calls
# (fewer calls, so more sampling noise in the binned error; the level the list needs).
BOOTSTRAP_RESAMPLES = 1000
CALIBRATION_LIMIT = 0.02
RECENT_CALIBRATION_LIMIT = 0.05
# Days with both outcomes the recent comparison needs; with fewer, the pooled gate decides.
MIN_GATE_DAYS = 5
# The most recent held-out calls: those of the last RECENT_DAYS before the latest one,
# widened to at least RECENT_MIN_CALLS of the latest, narrowed to the latest whole days
# holding at most RECENT_MAX_CALLS (a busy centre's last week or two: after the base rate
# moved, calls from before it would hide how far off the champion now is).
RECENT_DAYS = 90
RECENT_MIN_CALLS = 1000
RECENT_MAX_CALLS = 1500


def recent_holdout(days: np.ndarray) -> np.ndarray | None:
    """Mask of the most recent held-out calls, from their day numbers; None when undated."""
    if np.isnan(days).mean() > 0.5:
        return None
    return recent_mask(days, RECENT_DAYS, RECENT_MIN_CALLS, RECENT_MAX_CALLS)


class Decision(NamedTuple):
    status: str  # what the new version becomes: champion, candidate or rejected
    reason: str  # why, in the words kept in the version's history
    bootstrap: dict | None  # the gate's intervals (None when there was no champion)


def gate(y_holdout, challenger, champion, call_dates=None) -> tuple[bool, str, dict]:
    """The gate: on the list's terms when ``call_dates`` (of these calls) allow, else pooled."""
    if call_dates is not None and enough_days(y_holdout, call_dates):
        dates = np.asarray(call_dates, dtype=object)
        known = np.array([d is not None and d == d for d in dates], dtype=bool)
        y = np.asarray(y_holdout)
        return same_day_gate(y[known], np.asarray(challenger)[known], np.asarray(champion)[known], dates[known])
    return pooled_gate(y_holdout, challenger, champion)


def enough_days(y, call_dates) -> bool:
    """Whether at least MIN_GATE_DAYS call days hold both a subscriber and a non-subscriber."""
    dates = np.asarray(call_dates, dtype=object)
    known = np.array([d is not None and d == d for d in dates], dtype=bool)
    y = np.asarray(y)
    both = set(dates[known & (y == 1)]) & set(dates[known & (y == 0)])
    return len(both) >= MIN_GATE_DAYS


def same_day_gate(y_recent, challenger, champion, call_dates) -> tuple[bool, str, dict]:
    """Promote when the challenger orders same-day calls better beyond the noise, or is
    better calibrated beyond the noise without ordering them worse.

    Better ordered: the lower bound of the 95% day-resampled interval of (challenger -
    champion) same-day AUC is above zero; then it must not be worse calibrated (the
    calibration-error difference's interval reaches zero or below) and its own ECE on these
    calls must be within RECENT_CALIBRATION_LIMIT. Better calibrated: the whole interval of
    the calibration-error difference is below zero and the same-day AUC interval reaches
    zero or above. The second way lets a retrain that learnt a new level (the base rate
    moved, the order did not) replace a champion whose percentages no longer come true.
    """
    boot = paired_day_bootstrap(y_recent, challenger, champion, call_dates, resamples=BOOTSTRAP_RESAMPLES)
    days = int(boot["days"])
    auc = (
        f"same-day AUC {boot['same_day_auc_diff']:+.4f} (95% CI {boot['same_day_auc_low']:+.4f} to "
        f"{boot['same_day_auc_high']:+.4f}) over the {len(y_recent):,} most recent held-out calls ({days} days)"
    )
    ece_new = expected_calibration_error(y_recent, challenger)
    ece = (
        f"calibration error {boot['expected_calibration_error_diff']:+.4f} (95% CI "
        f"{boot['expected_calibration_error_low']:+.4f} to {boot['expected_calibration_error_high']:+.4f})"
    )
    if boot["same_day_auc_low"] > 0:
        if boot["expected_calibration_error_low"] > 0 or ece_new > RECENT_CALIBRATION_LIMIT:
            return False, f"better ranked ({auc}) but worse calibrated: {ece}, ECE {ece_new:.4f}", boot
        return True, f"better: {auc}; {ece}", boot
    if boot["expected_calibration_error_high"] < 0 and boot["same_day_auc_high"] >= 0:
        return True, f"better calibrated: {ece}, ECE {ece_new:.4f}; not worse ranked: {auc}", boot
    return False, f"not better beyond the noise: {auc}; {ece}", boot


def pooled_gate(y_holdout, challenger, champion) -> tuple[bool, str, dict]:
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
    recent_dates=None,
    recent: np.ndarray | None = None,
) -> Decision:
    """What a new version becomes, given the promotion mode and the gate's verdict.

    ``promote``: "if_better" follows the gate, "always" and "never" override it (the
    gate's verdict is still recorded). The first model becomes the champion. ``recent``
    (a mask of the holdout) and ``recent_dates`` (those calls' dates) give the gate the
    most recent calls to judge same-day ranking on; without them it is pooled.
    """
    if champion_version is None or champion is None:
        return Decision("champion", "first model: no champion yet", None)
    compared = (
        f"ROC AUC {challenger_auc:.4f} vs champion v{champion_version} {champion_auc:.4f} on the same held-out calls"
    )
    if recent is not None and recent_dates is not None and enough_days(np.asarray(y_holdout)[recent], recent_dates):
        better, why, boot = gate(
            np.asarray(y_holdout)[recent], np.asarray(challenger)[recent], np.asarray(champion)[recent], recent_dates
        )
    else:
        better, why, boot = gate(y_holdout, challenger, champion)
    if promote == "always":
        return Decision("champion", f"promoted on request; {compared}; gate said: {why}", boot)
    if promote == "never":
        return Decision("candidate", f"kept as candidate on request; {compared}; gate said: {why}", boot)
    if better:
        return Decision("champion", f"promoted: {compared}; {why}", boot)
    return Decision("rejected", f"rejected: {compared}; {why}", boot)
