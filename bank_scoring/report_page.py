"""The model report's HTML page: metrics, deciles, charts, the gate's decision and drift."""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING

from bank_scoring import monitor

if TYPE_CHECKING:
    from bank_scoring import registry
    from bank_scoring.report import _Evaluation

BLUE = "#1f5fa8"  # the report's headings and main series


def _pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def _fmt(fmt: str, value) -> str:
    """A figure, or "n/a" where it could not be measured (undated calls)."""
    return "n/a" if value is None else fmt.format(value)


def _champion_figures(ev: _Evaluation) -> dict:
    """The champion's figures on the same held-out calls, the recent ones included."""
    from bank_scoring.training.calibration import day_strings
    from bank_scoring.training.gate import recent_holdout
    from bank_scoring.training.retrain import holdout_metrics

    return holdout_metrics(ev.y, ev.champion_scores, day_strings(ev.call_days), recent_holdout(ev.call_days))


def _known(value):
    """None for NaN (a month with one outcome only has no same-day AUC)."""
    return None if value != value else value


def _list_section(metrics: dict, months) -> str:
    """What the nightly list gets: ordering within a day, first, and per month."""
    if metrics.get("same_day_auc") is None:
        return (
            "<p>The held-out calls have no dates (a shuffled file), so the order within a call day cannot be "
            "measured; the pooled figures below are all there is.</p>"
        )
    recent = ""
    if metrics.get("recent_same_day_auc") is not None:
        recent = (
            f" Over the {metrics['recent_rows']:,} most recent held-out calls"
            f" (from {html.escape(metrics['recent_from'])}),"
            f" where the promotion gate judges: same-day AUC <b>{metrics['recent_same_day_auc']:.3f}</b>,"
            f" calibration error {metrics['recent_expected_calibration_error']:.3f}."
        )
    rows = "".join(
        f"<tr><td>{html.escape(str(m.period))}</td><td>{m.calls:,}</td><td>{_pct(m.observed_rate)}</td>"
        f"<td>{_pct(m.predicted_rate)}</td><td>{_fmt('{:.3f}', _known(m.same_day_auc))}</td></tr>"
        for m in months.itertuples()
    )
    return f"""<p class="key">Tonight every customer has the same call date, so what orders the list is how well the
model ranks customers <i>called on the same day</i>: same-day AUC <b>{metrics["same_day_auc"]:.3f}</b>
(0.5 = random order), and the best tenth of each day's calls subscribes
<b>{metrics["same_day_lift_top_decile"]:.2f} times</b> as often as that day's average.{recent}</p>
<p class="small">Same-month AUC {_fmt("{:.3f}", metrics.get("same_month_auc"))}. The pooled ROC AUC further down also
rewards telling good months from bad ones, which cannot reorder a night's list.</p>
<div class="charts"><img src="months.png" alt="per month: subscribed and predicted rate, same-day AUC"></div>
<details><summary>Per month</summary><table><tr><th>month</th><th>held-out calls</th><th>subscribed</th>
<th>predicted</th><th>same-day AUC</th></tr>{rows}</table></details>"""


def render_page(
    mv: registry.ModelVersion,
    ev: _Evaluation,
    deciles: list[dict],
    events: list[dict],
    drift_rows: list,
    runs: list[int],
    months=None,
) -> str:
    e = html.escape
    version, metrics, y, champ_p, champ_v = mv.model_version, mv.metrics, ev.y, ev.champion_scores, ev.champion_version
    top = deciles[0]
    base = y.mean()
    cm = _champion_figures(ev) if champ_p is not None else None
    gate = metrics.get("gate_bootstrap")
    rows = [
        ("Same-day AUC (order among calls of one day)", "same_day_auc", "{:.4f}"),
        ("Same-day AUC, most recent held-out calls", "recent_same_day_auc", "{:.4f}"),
        ("Lift in the best 10% of each day", "same_day_lift_top_decile", "{:.2f}"),
        ("ROC AUC, pooled (ranking, 0.5 = random, 1 = perfect)", "roc_auc", "{:.4f}"),
        ("Precision-recall AUC", "pr_auc", "{:.4f}"),
        ("Lift in the best 10% (times the average rate)", "lift_top_decile", "{:.2f}"),
        ("Brier score (lower is better)", "brier_score", "{:.4f}"),
        ("Calibration error (gap between promised and real %)", "expected_calibration_error", "{:.4f}"),
    ]
    metric_rows = "".join(
        f"<tr><td>{e(name)}</td><td>{_fmt(fmt, metrics.get(key))}</td>"
        + (f"<td>{_fmt(fmt, cm.get(key))}</td>" if cm else "")
        + "</tr>"
        for name, key, fmt in rows
    )
    decile_rows = "".join(
        f"<tr><td>{d['decile']}</td><td>{d['customers']:,}</td><td>{_pct(d['mean_score'])}</td>"
        f"<td>{_pct(d['rate'])}</td><td>{d['lift']:.2f}</td><td>{_pct(d['gain'])}</td></tr>"
        for d in deciles
    )
    history = "".join(
        f"<tr><td>{e(str(event['created_at'])[:19])}</td><td>{e(event['event'])}</td>"
        f"<td>{e(event['actor'])}</td><td>{e(event['reason'])}</td></tr>"
        for event in events
    )
    if gate and "same_day_auc_diff" in gate:
        comparison = (
            f"<p>Compared with champion v{champ_v} on the same most recent held-out calls "
            f"({int(gate['days'])} call days): same-day AUC {gate['same_day_auc_diff']:+.4f} (95% interval, whole "
            f"days resampled, {gate['same_day_auc_low']:+.4f} to {gate['same_day_auc_high']:+.4f}), calibration "
            f"error {gate['expected_calibration_error_diff']:+.4f} (interval "
            f"{gate['expected_calibration_error_low']:+.4f} to {gate['expected_calibration_error_high']:+.4f}). "
            "A model is promoted only when the whole same-day AUC interval is above zero and its calibration is "
            "not demonstrably worse.</p>"
        )
    elif gate:
        comparison = (
            f"<p>Compared with champion v{champ_v} on the same {len(y):,} held-out calls: ROC AUC "
            f"{gate['roc_auc_diff']:+.4f} (95% bootstrap interval {gate['roc_auc_low']:+.4f} to "
            f"{gate['roc_auc_high']:+.4f}), calibration error {gate['expected_calibration_error_diff']:+.4f} "
            f"(interval {gate['expected_calibration_error_low']:+.4f} to "
            f"{gate['expected_calibration_error_high']:+.4f}). A model is promoted only when the whole "
            "AUC interval is above zero and its calibration is not demonstrably worse.</p>"
        )
    else:
        comparison = "<p>There was no champion when this model was trained, so it was compared with nothing.</p>"
    latest = ""
    if runs:
        last = runs[-1]
        values = {r.feature: r.psi for r in drift_rows if r.run_id == last}
        worst = sorted(((v, f) for f, v in monitor.alerting(values).items()), reverse=True)[:3]
        history = [(f, values[f]) for f in monitor.CONTACT_HISTORY if f in values]
        latest = (
            "<p>Latest run: "
            + ", ".join(f"{e(f)} {v:.3f}" for v, f in worst)
            + (
                " &mdash; <b>above 0.2: the customers have changed; consider retraining.</b>"
                if worst and worst[0][0] > monitor.DRIFT_THRESHOLD
                else " (all below 0.2: stable)."
            )
            + (
                " Contact history, set by the centre's own calls and never alerted: "
                + ", ".join(f"{e(f)} {v:.3f}" for f, v in history)
                + "."
                if history
                else ""
            )
            + "</p>"
        )
    champion_head = f"<th>champion v{champ_v}</th>" if cm else ""
    window = (
        f"from {mv.window_start or 'the first call'} to {mv.window_end or 'the last call'}"
        if mv.window_start or mv.window_end
        else "(all past calls)"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Lead-scoring model v{version}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 980px; margin: 2em auto; color: #222; line-height: 1.45; }}
h1 {{ color: {BLUE}; }} h2 {{ border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 1.8em; }}
table {{ border-collapse: collapse; margin: .6em 0; }} td, th {{ border: 1px solid #ddd; padding: .3em .7em; }}
th {{ background: #f3f6fa; text-align: left; }} .key {{ font-size: 1.15em; background: #f3f6fa; padding: .8em 1em; }}
.charts img {{ max-width: 100%; border: 1px solid #eee; margin: .4em 0; }} .small {{ color: #666; font-size: .9em; }}
</style></head><body>
<h1>Lead-scoring model v{version} <span class="small">({e(mv.status)}, {e(mv.algorithm)})</span></h1>
<h2>Tonight's list</h2>
{_list_section(metrics, months if months is not None else [])}
<h2>The whole held-out set</h2>
<p class="key">Calling the best-scored tenth of customers first reaches <b>{_pct(top["gain"])}</b> of all the
subscriptions, <b>{top["lift"]:.1f} times</b> as many per call as calling at random
({_pct(top["rate"])} of them subscribe, against {_pct(base)} on average).
The percentages the model gives are real probabilities: on average they are off by
{metrics["expected_calibration_error"] * 100:.1f} percentage points.</p>
<p class="small">Measured on {len(y):,} past calls the model never saw in training (a fixed 20% of calls, the
same for every version). Trained on the other {mv.training_rows - len(y):,} of {mv.training_rows:,} past calls
{window}, of which {mv.training_positives:,} ended in a subscription.</p>

<h2>How much better than calling at random</h2>
<div class="charts"><img src="gains.png" alt="cumulative gains chart"> <img src="lift.png" alt="lift by decile"></div>
<table><tr><th>decile</th><th>customers</th><th>average score</th><th>subscribed</th><th>lift</th>
<th>subscriptions reached so far</th></tr>{decile_rows}</table>

<h2>Can the percentages be trusted?</h2>
<p>Each point groups customers with similar scores: if the model says 30%, about 30% of them should subscribe.
Points on the dotted line mean the promised percentages come true.</p>
<div class="charts"><img src="calibration.png" alt="calibration curve">
<img src="scores.png" alt="score distribution"></div>

<h2>Figures, and the comparison with the champion</h2>
<table><tr><th>measure</th><th>this model v{version}</th>{champion_head}</tr>{metric_rows}</table>
{comparison}
<div class="charts"><img src="roc.png" alt="ROC curve"></div>

<h2>What the model relies on</h2>
<p>How much the ranking gets worse when one column is shuffled (the longer the bar, the more the model needs it).
The call's duration is never used: it is only known after the call. The year, month and day of the call measure
when past calls were made (some periods converted far better than others); tonight they are the same for every
customer, so they set the level of tonight's percentages, while the customer columns decide who comes first.</p>
<div class="charts"><img src="importance.png" alt="permutation feature importance"></div>

<h2>Is tonight's customer base still like the training data?</h2>
<p>Population stability index of each customer column and of the score, for the latest nightly runs scored with
this model: below 0.1 stable, 0.1&ndash;0.2 worth a look, above 0.2 the customers have changed.</p>
{latest}
<div class="charts"><img src="drift.png" alt="drift trend over recent runs"></div>

<h2>Decisions about this model</h2>
<table><tr><th>when (UTC)</th><th>decision</th><th>by</th><th>why</th></tr>{history}</table>

<h2>Reproducibility</h2>
<table>
<tr><td>training rows fingerprint (sha256)</td><td><code>{e(mv.training_fingerprint)}</code></td></tr>
<tr><td>artifact</td><td><code>{e(str(mv.artifact_path))}</code> sha256 <code>{e(mv.artifact_sha256)}</code></td></tr>
<tr><td>code version</td><td><code>{e(mv.code_version)}</code></td></tr>
<tr><td>parameters</td><td><code>{e(json.dumps(mv.params, sort_keys=True))}</code></td></tr>
<tr><td>libraries</td><td>{e(", ".join(f"{k} {v}" for k, v in mv.libraries.items()))}</td></tr>
</table>
</body></html>
"""
