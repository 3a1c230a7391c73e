"""A model report a marketing manager can read: one HTML page with PNG charts per version.

Written next to the artifact (``model-v0001.report/index.html``) by its own step after
training (the retrain DAG's ``write_report`` task, ``bank-scoring report VERSION``),
linked from the version's ``report_path``, and written again on request so that its drift
section shows the latest nightly runs.

The figures come from the evaluation the training run saved beside the artifact
(``model-v0001.evaluation.npz``: held-out outcomes, this model's and the champion's scores
on the same calls, permutation importance), so a report never retrains anything.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, text

from bank_scoring import registry
from bank_scoring.evaluate import calibration_bins, classification_metrics

CHARTS = ("gains.png", "lift.png", "calibration.png", "scores.png", "roc.png", "importance.png", "drift.png")
_BLUE, _GREY, _RED = "#1f5fa8", "#9a9a9a", "#c0392b"


def evaluation_path(artifact_path: str | Path) -> Path:
    return Path(artifact_path).with_suffix(".evaluation.npz")


def report_dir(artifact_path: str | Path) -> Path:
    return Path(artifact_path).with_suffix(".report")


def save_evaluation(artifact_path: Path, y: np.ndarray, scores: np.ndarray, champion_scores: np.ndarray | None,
                    champion_version: int | None, importance: dict[str, tuple[float, float]]) -> Path:
    """Keep what the report needs from training beside the artifact."""
    path = evaluation_path(artifact_path)
    names = list(importance)
    np.savez_compressed(
        path, y=np.asarray(y, dtype=np.int8), scores=np.asarray(scores, dtype=float),
        champion_scores=np.asarray(champion_scores if champion_scores is not None else [], dtype=float),
        champion_version=np.asarray(champion_version or 0), importance_names=np.asarray(names),
        importance_mean=np.asarray([importance[n][0] for n in names]),
        importance_std=np.asarray([importance[n][1] for n in names]))
    return path


@dataclass
class _Evaluation:
    """The saved evaluation of one version, as the charts and the page read it."""

    y: np.ndarray
    scores: np.ndarray
    champion_scores: np.ndarray | None
    champion_version: int | None
    importance_names: list[str]
    importance_mean: np.ndarray
    importance_std: np.ndarray


def _load_evaluation(artifact_path: str | Path) -> _Evaluation:
    data = np.load(evaluation_path(artifact_path))
    return _Evaluation(
        y=data["y"].astype(int), scores=data["scores"],
        champion_scores=data["champion_scores"] if data["champion_scores"].size else None,
        champion_version=int(data["champion_version"]) or None,
        importance_names=[str(n) for n in data["importance_names"]], importance_mean=data["importance_mean"],
        importance_std=data["importance_std"])


def _deciles(y: np.ndarray, p: np.ndarray) -> list[dict]:
    order = np.argsort(-p, kind="stable")
    groups = np.array_split(order, 10)
    base = y.mean()
    total_pos = y.sum()
    out, cum_pos, cum_n = [], 0, 0
    for i, g in enumerate(groups, start=1):
        cum_pos += y[g].sum()
        cum_n += len(g)
        out.append({"decile": i, "customers": len(g), "subscribed": int(y[g].sum()), "rate": y[g].mean(),
                    "lift": y[g].mean() / base, "gain": cum_pos / total_pos, "cum_share": cum_n / len(y),
                    "mean_score": p[g].mean()})
    return out


def _drift_rows(engine: Engine, version: int) -> list:
    """PSI per feature of the published nightly runs scored with this version."""
    with engine.connect() as conn:
        return conn.execute(text(
            "select r.run_id, r.score_date, d.feature, d.psi from run_drift d join scoring_runs r "
            "on r.run_id = d.run_id where r.model_version = :v and r.status in ('published', 'superseded') "
            "order by r.run_id"), {"v": version}).all()


def write_report(engine: Engine, version: int, recent_runs: int = 30) -> Path:
    """(Re)write the report of a model version and link it in the registry; returns its index.html."""
    mv = registry.get_version(engine, version)
    ev = _load_evaluation(mv.artifact_path)
    drift_rows = _drift_rows(engine, version)
    runs = sorted({r.run_id for r in drift_rows})[-recent_runs:]
    out = report_dir(mv.artifact_path)
    out.mkdir(parents=True, exist_ok=True)
    deciles = _deciles(ev.y, ev.scores)
    _draw_charts(out, mv, ev, deciles, drift_rows, runs)
    index = out / "index.html"
    index.write_text(_html(mv, ev, deciles, registry.events(engine, version), drift_rows, runs), encoding="utf-8")
    registry.set_report_path(engine, version, index)
    return index


def _draw_charts(out: Path, mv: registry.ModelVersion, ev: _Evaluation, deciles: list[dict], drift_rows: list,
                 runs: list[int]) -> None:
    """The page's PNG charts (CHARTS), drawn into ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    y, p, champ_p = ev.y, ev.scores, ev.champion_scores
    label = f"v{mv.model_version}"
    champ_label = f"champion v{ev.champion_version}" if ev.champion_version else None

    def save(fig, ax, name, title, xlabel, ylabel, grid=False, legend=True):
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        if legend:
            ax.legend()
        if grid:
            ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)

    # cumulative gains
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([0] + [d["cum_share"] * 100 for d in deciles], [0] + [d["gain"] * 100 for d in deciles], "o-",
            color=_BLUE, label=f"model {label}")
    if champ_p is not None:
        cd = _deciles(y, champ_p)
        ax.plot([0] + [d["cum_share"] * 100 for d in cd], [0] + [d["gain"] * 100 for d in cd], "s--",
                color=_GREY, label=champ_label)
    ax.plot([0, 100], [0, 100], ":", color="black", label="calling at random")
    save(fig, ax, "gains.png", "Cumulative gains", "% of customers called, best leads first",
         "% of all subscriptions reached", grid=True)
    # lift by decile
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar([d["decile"] for d in deciles], [d["lift"] for d in deciles], color=_BLUE)
    ax.axhline(1, color="black", linestyle=":", label="calling at random")
    ax.set_xticks(range(1, 11))
    save(fig, ax, "lift.png", "Lift by decile", "decile of customers (1 = best tenth)",
         "times the average subscription rate")
    # calibration
    fig, ax = plt.subplots(figsize=(6, 4))
    shown = [(pred * 100, obs * 100, n) for pred, obs, n in calibration_bins(y, p) if n >= 20]
    xs, ys, ns = (list(col) for col in zip(*shown, strict=True)) if shown else ([], [], [])
    ax.plot([0, 100], [0, 100], ":", color="black", label="perfect")
    ax.plot(xs, ys, "o-", color=_BLUE, label=f"model {label}")
    for x_, y_, n_ in zip(xs, ys, ns, strict=True):
        ax.annotate(f"{n_:,}", (x_, y_), textcoords="offset points", xytext=(4, -10), fontsize=7, color=_GREY)
    save(fig, ax, "calibration.png", "Calibration: do the percentages come true?",
         "predicted chance of subscribing (%)", "share that actually subscribed (%)", grid=True)
    # score distribution
    fig, ax = plt.subplots(figsize=(6, 4))
    edges = np.linspace(0, max(0.05, float(p.max())), 40)
    ax.hist(p[y == 0] * 100, bins=edges * 100, alpha=0.6, color=_GREY, label="did not subscribe")
    ax.hist(p[y == 1] * 100, bins=edges * 100, alpha=0.7, color=_BLUE, label="subscribed")
    ax.set_yscale("log")
    save(fig, ax, "scores.png", "Score distribution", "predicted chance of subscribing (%)",
         "held-out calls (log scale)")
    # ROC
    fig, ax = plt.subplots(figsize=(6, 4))
    fpr, tpr, _ = roc_curve(y, p)
    ax.plot(fpr, tpr, color=_BLUE, label=f"model {label} (AUC {mv.metrics['roc_auc']:.3f})")
    if champ_p is not None:
        cf, ct, _ = roc_curve(y, champ_p)
        champ_auc = classification_metrics(y, champ_p)["roc_auc"]
        ax.plot(cf, ct, "--", color=_GREY, label=f"{champ_label} (AUC {champ_auc:.3f})")
    ax.plot([0, 1], [0, 1], ":", color="black")
    ax.legend(loc="lower right")
    save(fig, ax, "roc.png", "ROC curve", "false positive rate", "true positive rate", legend=False)
    # permutation importance
    names, means, stds = ev.importance_names, ev.importance_mean, ev.importance_std
    order = np.argsort(means)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.barh([names[i] for i in order], [means[i] for i in order], xerr=[stds[i] for i in order], color=_BLUE)
    save(fig, ax, "importance.png", "What the model relies on (permutation importance)",
         "drop in ROC AUC when the column is shuffled", "", legend=False)
    # drift trend over recent runs
    fig, ax = plt.subplots(figsize=(7, 4))
    if runs:
        dates = {r.run_id: str(r.score_date)[:10] for r in drift_rows}
        by_feature: dict[str, dict[int, float]] = {}
        for r in drift_rows:
            if r.run_id in runs:
                by_feature.setdefault(r.feature, {})[r.run_id] = r.psi
        worst = sorted(by_feature, key=lambda f: -max(by_feature[f].values()))[:6]
        for feature in worst:
            ax.plot(range(len(runs)), [by_feature[feature].get(r, np.nan) for r in runs], "o-", label=feature)
        ax.set_xticks(range(len(runs)), [dates[r] for r in runs], rotation=45, ha="right", fontsize=7)
        highest = max(max(v.values()) for v in by_feature.values())
        ax.set_ylim(0, max(0.3, highest * 1.15))
        ax.legend(fontsize=7, ncol=3, loc="upper left")
    else:
        ax.text(0.5, 0.5, "no nightly runs with this model yet", ha="center", va="center", transform=ax.transAxes)
    ax.axhline(0.2, color=_RED, linestyle="--")
    ax.axhline(0.1, color=_GREY, linestyle=":")
    save(fig, ax, "drift.png", "Drift of tonight's customers from the training data", "",
         "population stability index", legend=False)


def _pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def _html(mv: registry.ModelVersion, ev: _Evaluation, deciles: list[dict], events: list[dict], drift_rows: list,
          runs: list[int]) -> str:
    e = html.escape
    version, metrics, y, champ_p, champ_v = mv.model_version, mv.metrics, ev.y, ev.champion_scores, ev.champion_version
    top = deciles[0]
    base = y.mean()
    cm = classification_metrics(y, champ_p) if champ_p is not None else None
    gate = metrics.get("gate_bootstrap")
    rows = [("ROC AUC (ranking, 0.5 = random, 1 = perfect)", "roc_auc", "{:.4f}"),
            ("Precision-recall AUC", "pr_auc", "{:.4f}"),
            ("Lift in the best 10% (times the average rate)", "lift_top_decile", "{:.2f}"),
            ("Brier score (lower is better)", "brier_score", "{:.4f}"),
            ("Calibration error (gap between promised and real %)", "expected_calibration_error", "{:.4f}")]
    metric_rows = "".join(
        f"<tr><td>{e(name)}</td><td>{fmt.format(metrics[key])}</td>"
        + (f"<td>{fmt.format(cm[key])}</td>" if cm else "") + "</tr>" for name, key, fmt in rows)
    decile_rows = "".join(
        f"<tr><td>{d['decile']}</td><td>{d['customers']:,}</td><td>{_pct(d['mean_score'])}</td>"
        f"<td>{_pct(d['rate'])}</td><td>{d['lift']:.2f}</td><td>{_pct(d['gain'])}</td></tr>" for d in deciles)
    history = "".join(f"<tr><td>{e(str(event['created_at'])[:19])}</td><td>{e(event['event'])}</td>"
                      f"<td>{e(event['actor'])}</td><td>{e(event['reason'])}</td></tr>" for event in events)
    if gate:
        comparison = (f"<p>Compared with champion v{champ_v} on the same {len(y):,} held-out calls: ROC AUC "
                      f"{gate['roc_auc_diff']:+.4f} (95% bootstrap interval {gate['roc_auc_low']:+.4f} to "
                      f"{gate['roc_auc_high']:+.4f}), calibration error {gate['expected_calibration_error_diff']:+.4f} "
                      f"(interval {gate['expected_calibration_error_low']:+.4f} to "
                      f"{gate['expected_calibration_error_high']:+.4f}). A model is promoted only when the whole "
                      "AUC interval is above zero and its calibration is not demonstrably worse.</p>")
    else:
        comparison = "<p>There was no champion when this model was trained, so it was compared with nothing.</p>"
    latest = ""
    if runs:
        last = runs[-1]
        worst = sorted(((r.psi, r.feature) for r in drift_rows if r.run_id == last), reverse=True)[:3]
        latest = ("<p>Latest run: " + ", ".join(f"{e(f)} {v:.3f}" for v, f in worst)
                  + (" &mdash; <b>above 0.2: the customers have changed; consider retraining.</b>"
                     if worst and worst[0][0] > 0.2 else " (all below 0.2: stable).") + "</p>")
    champion_head = f"<th>champion v{champ_v}</th>" if cm else ""
    window = (f"from {mv.window_start or 'the first call'} to {mv.window_end or 'the last call'}"
              if mv.window_start or mv.window_end else "(all past calls)")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Lead-scoring model v{version}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 980px; margin: 2em auto; color: #222; line-height: 1.45; }}
h1 {{ color: {_BLUE}; }} h2 {{ border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 1.8em; }}
table {{ border-collapse: collapse; margin: .6em 0; }} td, th {{ border: 1px solid #ddd; padding: .3em .7em; }}
th {{ background: #f3f6fa; text-align: left; }} .key {{ font-size: 1.15em; background: #f3f6fa; padding: .8em 1em; }}
.charts img {{ max-width: 100%; border: 1px solid #eee; margin: .4em 0; }} .small {{ color: #666; font-size: .9em; }}
</style></head><body>
<h1>Lead-scoring model v{version} <span class="small">({e(mv.status)}, {e(mv.algorithm)})</span></h1>
<p class="key">Calling the best-scored tenth of customers first reaches <b>{_pct(top['gain'])}</b> of all the
subscriptions, <b>{top['lift']:.1f} times</b> as many per call as calling at random
({_pct(top['rate'])} of them subscribe, against {_pct(base)} on average).
The percentages the model gives are real probabilities: on average they are off by
{metrics['expected_calibration_error'] * 100:.1f} percentage points.</p>
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
<tr><td>libraries</td><td>{e(', '.join(f'{k} {v}' for k, v in mv.libraries.items()))}</td></tr>
</table>
</body></html>
"""
