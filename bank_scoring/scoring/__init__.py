"""Nightly scoring: every customer gets a propensity for the score date, or a reject reason.

A run has three steps that the CLI calls in one process (:func:`score_customers`) and the
nightly DAG calls as separate tasks: :func:`start_run`, :func:`score_partition` for each
customer-id range from :func:`plan_partitions` (idempotent, so a retried range never
duplicates), and :func:`publish_run`, which makes the complete run the night agents see in
one transaction. Until then the previous published night stays in the worklist.

Modules: ``runs`` (lifecycle), ``partition`` (planning and scoring a range), ``publish``
(completeness, reasons, drift, the swap), ``parallel`` (worker processes), ``profile``
(timings as a value), and one backend per database behind ``backend``: ``postgres``, ``sqlite``.
"""

from bank_scoring.scoring.parallel import score_customers
from bank_scoring.scoring.partition import night_profile, plan_partitions, run_model, score_partition
from bank_scoring.scoring.profile import RunProfile, peak_rss_bytes
from bank_scoring.scoring.publish import publish_run
from bank_scoring.scoring.runs import (
    STALE_RUN_HOURS,
    RunSummary,
    ScoringError,
    get_run,
    latest_published_run,
    list_rejects,
    list_runs,
    mark_failed,
    resolve_score_date,
    start_run,
)

__all__ = [
    "STALE_RUN_HOURS",
    "RunProfile",
    "RunSummary",
    "ScoringError",
    "get_run",
    "latest_published_run",
    "list_rejects",
    "list_runs",
    "mark_failed",
    "night_profile",
    "peak_rss_bytes",
    "plan_partitions",
    "publish_run",
    "resolve_score_date",
    "run_model",
    "score_customers",
    "score_partition",
    "start_run",
]
