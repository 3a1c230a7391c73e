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

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text

from bank_scoring import registry
from bank_scoring.evaluate import calibration_bins, classification_metrics
from bank_scoring.report_page import BLUE as _BLUE
from bank_scoring.report_page import render_page

CHARTS = (
    "gains.png",
    "lift.png",
    "calibration.png",
    "scores.png",
    "roc.png",
    "months.png",
    "importance.png",
    "drift.png",
)
_GREY, _RED = "#9a9a9a", "#c0392b"


def evaluation_path(artifact_path: str | Path) -> Path:
    return Path(artifact_path).with_suffix(".evaluation.npz")


def report_dir(artifact_path: str | Path) -> Path:
    return Path(artifact_path).with_suffix(".report")


def save_evaluation(
    artifact_path: Path,
    y: np.ndarray,
    scores: np.ndarray,
    champion_scores: np.ndarray | None,
    champion_version: int | None,
    importance: dict[str, tuple[float, float]],
    call_days: np.ndarray | None = None,
) -> Path:
    """Keep what the report needs from training beside the artifact (``call_days``: the
    held-out calls' dates as day numbers, NaN where unknown)."""
    path = evaluation_path(artifact_path)
    names = list(importance)
    np.savez_compressed(
        path,
        y=np.asarray(y, dtype=np.int8),
        scores=np.asarray(scores, dtype=float),
        champion_scores=np.asarray(champion_scores if champion_scores is not None else [], dtype=float),
        champion_version=np.asarray(champion_version or 0),
        importance_names=np.asarray(names),
        importance_mean=np.asarray([importance[n][0] for n in names]),
        importance_std=np.asarray([importance[n][1] for n in names]),
        call_days=np.asarray(call_days if call_days is not None else np.full(len(y), np.nan), dtype=float),
    )
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
    call_days: np.ndarray  # day numbers of the held-out calls (NaN where unknown)


def _load_evaluation(artifact_path: str | Path) -> _Evaluation:
    data = np.load(evaluation_path(artifact_path))
    return _Evaluation(
        y=data["y"].astype(int),
        scores=data["scores"],
        champion_scores=data["champion_scores"] if data["champion_scores"].size else None,
        champion_version=int(data["champion_version"]) or None,
        importance_names=[str(n) for n in data["importance_names"]],
        importance_mean=data["importance_mean"],
        importance_std=data["importance_std"],
        call_days=data["call_days"] if "call_days" in data.files else np.full(len(data["y"]), np.nan),
    )


def _deciles(y: np.ndarray, p: np.ndarray) -> list[dict]:
    order = np.argsort(-p, kind="stable")
    groups = np.array_split(order, 10)
    base = y.mean()
    total_pos = y.sum()
    out, cum_pos, cum_n = [], 0, 0
    for i, g in enumerate(groups, start=1):
        cum_pos += y[g].sum()
        cum_n += len(g)
        out.append(
            {
                "decile": i,
                "customers": len(g),
                "subscribed": int(y[g].sum()),
                "rate": y[g].mean(),
                "lift": y[g].mean() / base,
                "gain": cum_pos / total_pos,
                "cum_share": cum_n / len(y),
                "mean_score": p[g].mean(),
            }
        )
    return out


def _drift_rows(engine: Engine, version: int) -> list:
    """PSI per feature of the published nightly runs scored with this version."""
    with engine.connect() as conn:
        return conn.execute(
            text(
                "select r.run_id, r.score_date, d.feature, d.psi from run_drift d join scoring_runs r "
                "on r.run_id = d.run_id where r.model_version = :v and r.status in ('published', 'superseded') "
                "order by r.run_id"
            ),
            {"v": version},
        ).all()


def write_report(engine: Engine, version: int, recent_runs: int = 30) -> Path:
    """(Re)write the report of a model version and link it in the registry; returns its index.html."""
    mv = registry.get_version(engine, version)
    ev = _load_evaluation(mv.artifact_path)
    drift_rows = _drift_rows(engine, version)
    runs = sorted({r.run_id for r in drift_rows})[-recent_runs:]
    out = report_dir(mv.artifact_path)
    out.mkdir(parents=True, exist_ok=True)
    deciles = _deciles(ev.y, ev.scores)
    months = monthly_figures(ev)
    _draw_charts(out, mv, ev, deciles, drift_rows, runs)
    _draw_months(out, months)
    index = out / "index.html"
    page = render_page(mv, ev, deciles, registry.events(engine, version), drift_rows, runs, months)
    index.write_text(page, encoding="utf-8")
    registry.set_report_path(engine, version, index)
    return index


def monthly_figures(ev: _Evaluation) -> pd.DataFrame:
    """Per month of the held-out calls: calls, observed and predicted rate, same-day AUC."""
    from bank_scoring.training.backtest import per_period
    from bank_scoring.training.calibration import day_strings

    known = ~np.isnan(ev.call_days)
    if not known.any():
        return pd.DataFrame(columns=["period", "calls", "observed_rate", "predicted_rate", "same_day_auc"])
    dates = pd.to_datetime(pd.Series(day_strings(ev.call_days[known])))
    scores = pd.DataFrame(
        {
            "period": dates.dt.to_period("M").astype(str),
            "call_date": dates,
            "y": ev.y[known],
            "propensity": ev.scores[known],
        }
    )
    return per_period(scores)


def _draw_months(out: Path, months: pd.DataFrame) -> None:
    """months.png: per month, the observed and predicted rate and the same-day AUC."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
    if len(months):
        x = np.arange(len(months))
        top.plot(x, months["observed_rate"] * 100, "o-", color=_BLUE, label="subscribed")
        top.plot(x, months["predicted_rate"] * 100, "s--", color=_GREY, label="predicted")
        top.legend(fontsize=8)
        bottom.bar(x, months["same_day_auc"].fillna(0.5) - 0.5, bottom=0.5, color=_BLUE)
        bottom.axhline(0.5, color="black", linewidth=0.8)
        bottom.set_xticks(x, months["period"], rotation=60, ha="right", fontsize=7)
    else:
        top.text(0.5, 0.5, "the held-out calls have no dates", ha="center", va="center", transform=top.transAxes)
    top.set_ylabel("calls subscribed (%)")
    top.set_title("Per month of held-out calls: the level, and the order within a day")
    bottom.set_ylabel("same-day AUC")
    fig.tight_layout()
    fig.savefig(out / "months.png", dpi=110)
    plt.close(fig)


def _draw_charts(
    out: Path, mv: registry.ModelVersion, ev: _Evaluation, deciles: list[dict], drift_rows: list, runs: list[int]
) -> None:
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
    ax.plot(
        [0] + [d["cum_share"] * 100 for d in deciles],
        [0] + [d["gain"] * 100 for d in deciles],
        "o-",
        color=_BLUE,
        label=f"model {label}",
    )
    if champ_p is not None:
        cd = _deciles(y, champ_p)
        ax.plot(
            [0] + [d["cum_share"] * 100 for d in cd],
            [0] + [d["gain"] * 100 for d in cd],
            "s--",
            color=_GREY,
            label=champ_label,
        )
    ax.plot([0, 100], [0, 100], ":", color="black", label="calling at random")
    save(
        fig,
        ax,
        "gains.png",
        "Cumulative gains",
        "% of customers called, best leads first",
        "% of all subscriptions reached",
        grid=True,
    )
    # lift by decile
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar([d["decile"] for d in deciles], [d["lift"] for d in deciles], color=_BLUE)
    ax.axhline(1, color="black", linestyle=":", label="calling at random")
    ax.set_xticks(range(1, 11))
    save(
        fig,
        ax,
        "lift.png",
        "Lift by decile",
        "decile of customers (1 = best tenth)",
        "times the average subscription rate",
    )
    # calibration
    fig, ax = plt.subplots(figsize=(6, 4))
    shown = [(pred * 100, obs * 100, n) for pred, obs, n in calibration_bins(y, p) if n >= 20]
    xs, ys, ns = (list(col) for col in zip(*shown, strict=True)) if shown else ([], [], [])
    ax.plot([0, 100], [0, 100], ":", color="black", label="perfect")
    ax.plot(xs, ys, "o-", color=_BLUE, label=f"model {label}")
    for x_, y_, n_ in zip(xs, ys, ns, strict=True):
        ax.annotate(f"{n_:,}", (x_, y_), textcoords="offset points", xytext=(4, -10), fontsize=7, color=_GREY)
    save(
        fig,
        ax,
        "calibration.png",
        "Calibration: do the percentages come true?",
        "predicted chance of subscribing (%)",
        "share that actually subscribed (%)",
        grid=True,
    )
    # score distribution
    fig, ax = plt.subplots(figsize=(6, 4))
    edges = np.linspace(0, max(0.05, float(p.max())), 40)
    ax.hist(p[y == 0] * 100, bins=edges * 100, alpha=0.6, color=_GREY, label="did not subscribe")
    ax.hist(p[y == 1] * 100, bins=edges * 100, alpha=0.7, color=_BLUE, label="subscribed")
    ax.set_yscale("log")
    save(
        fig, ax, "scores.png", "Score distribution", "predicted chance of subscribing (%)", "held-out calls (log scale)"
    )
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
    save(
        fig,
        ax,
        "importance.png",
        "What the model relies on (permutation importance)",
        "drop in ROC AUC when the column is shuffled",
        "",
        legend=False,
    )
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
    save(
        fig,
        ax,
        "drift.png",
        "Drift of tonight's customers from the training data",
        "",
        "population stability index",
        legend=False,
    )
