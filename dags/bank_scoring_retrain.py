"""
### Retrain the lead-scoring model

Trains a propensity model on past calls and their outcomes (`campaign_contacts`), measures
it on held-out calls, registers the artifact in `model_versions`, and promotes it to
champion only when it beats the current champion on the same held-out calls. Then writes
the version's HTML report (again, when the same rows gave an existing version).

A promotion emits an event on the champion-model Asset (`bank_scoring.constants.CHAMPION_ASSET_URI`).

Runs weekly (`BANK_SCORING_RETRAIN_SCHEDULE`, default Sundays 04:00 UTC), whenever the
nightly DAG announces enough new labelled calls since the last training (an event on the
Asset `bank_scoring://campaign_contacts/labelled`; `BANK_SCORING_RETRAIN_NEW_LABELS`, default
500), and whenever a data scientist triggers it with the Params below. The call's `duration` is never a feature.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task
from bank_scoring_dag_support import DEFAULT_ARGS, bank_engine, labelled_asset

from bank_scoring.config import load_settings
from bank_scoring.constants import CHAMPION_ASSET_URI, DEFAULT_ESTIMATOR, ESTIMATORS, PROMOTE_MODES

# Updated whenever a retrain promotes a new champion; a DAG can be scheduled on it.
CHAMPION_MODEL = Asset(CHAMPION_ASSET_URI, extra={"table": "model_versions"})


@dag(
    dag_id="bank_scoring_retrain",
    # The week's cron, or the nightly harvest's event when enough new labels arrived.
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(load_settings().retrain_schedule, timezone="UTC"),
        assets=labelled_asset(),
    ),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["bank-scoring", "model"],
    doc_md=__doc__,
    params={
        "estimator": Param(
            "auto",
            enum=list(ESTIMATORS),
            title="Estimator",
            description="auto (default) judges every candidate on the latest calls by same-day ranking "
            f"and keeps {DEFAULT_ESTIMATOR} unless another is better beyond the noise; "
            "random_forest is the tutorial's model.",
        ),
        "window_start": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Training window start",
            description="First call date to train on (YYYY-MM-DD); empty for all calls.",
        ),
        "window_end": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Training window end",
            description="Last call date to train on (YYYY-MM-DD); empty for all calls.",
        ),
        "seed": Param(42, type="integer", minimum=0, title="Random seed"),
        "promote": Param(
            "if_better",
            enum=list(PROMOTE_MODES),
            title="Promotion",
            description="if_better: only when it beats the champion; always; never.",
        ),
    },
)
def bank_scoring_retrain():
    @task(multiple_outputs=True)
    def check_training_data(**context) -> dict:
        """Refuse bad Params or unusable training rows before any training starts."""
        from bank_scoring.training import check_training_window

        params = context["params"]
        return check_training_window(bank_engine(), params["window_start"], params["window_end"])

    @task(multiple_outputs=True)
    def train_and_register(window_start: str | None, window_end: str | None, **context) -> dict:
        """Train, evaluate on held-out calls, register, and promote when better."""
        from bank_scoring.training import train_model

        params = context["params"]
        result = train_model(
            bank_engine(),
            load_settings().model_dir,
            estimator=params["estimator"],
            window_start=window_start,
            window_end=window_end,
            seed=params["seed"],
            promote=params["promote"],
            actor=f"airflow:{context['run_id']}",
        )
        print(f"model v{result.model_version}: {result.status}; {result.decision}")
        return {
            "model_version": result.model_version,
            "status": result.status,
            "decision": result.decision,
            "roc_auc": result.metrics.get("roc_auc"),
            "reused": result.reused,
        }

    @task
    def write_report(model_version: int) -> str:
        """Write the model version's HTML report beside its artifact and link it in the registry."""
        from bank_scoring.report import write_report as write

        index = write(bank_engine(), model_version)
        print(f"model v{model_version} report: {index}")
        return str(index)

    @task(outlets=[CHAMPION_MODEL])
    def announce_champion(
        model_version: int, status: str, reused: bool, roc_auc: float | None, *, outlet_events=None
    ) -> None:
        """Emit an event on the champion-model Asset, only when this run promoted a model."""
        from airflow.sdk.exceptions import AirflowSkipException

        if status != "champion" or reused:
            raise AirflowSkipException(f"no new champion: v{model_version} is {status}")
        outlet_events[CHAMPION_MODEL].extra = {"model_version": model_version, "roc_auc": roc_auc}

    checked = check_training_data()
    trained = train_and_register(checked["window_start"], checked["window_end"])
    write_report(trained["model_version"])
    announce_champion(trained["model_version"], trained["status"], trained["reused"], trained["roc_auc"])


bank_scoring_retrain()

if __name__ == "__main__":
    bank_scoring_retrain().test()
