"""
### Retrain the lead-scoring model

Trains a propensity model on past calls and their outcomes (`campaign_contacts`), measures
it on held-out calls, registers the artifact in `model_versions`, and promotes it to
champion only when it beats the current champion on the same held-out calls.

A promotion emits an event on the Asset `bank_scoring://model_versions/champion`.

Runs weekly (`BANK_SCORING_RETRAIN_SCHEDULE`, default Sundays 04:00 UTC) and whenever a
data scientist triggers it with the Params below. The call's `duration` is never a feature.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, Param, dag, task
from bank_scoring_dag_support import DEFAULT_ARGS

from bank_scoring.config import load_settings

# Updated whenever a retrain promotes a new champion; a DAG can be scheduled on it.
CHAMPION_MODEL = Asset("bank_scoring://model_versions/champion", extra={"table": "model_versions"})
ESTIMATORS = ["auto", "hist_gradient_boosting", "random_forest", "logistic_regression"]
PROMOTE_MODES = ["if_better", "always", "never"]


@dag(
    dag_id="bank_scoring_retrain",
    schedule=load_settings().retrain_schedule,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["bank-scoring", "model"],
    doc_md=__doc__,
    params={
        "estimator": Param("auto", enum=ESTIMATORS, title="Estimator",
                           description="auto (default) cross-validates every candidate and keeps the best; "
                                       "random_forest is the tutorial's model."),
        "window_start": Param(None, type=["null", "string"], format="date", title="Training window start",
                              description="First call date to train on (YYYY-MM-DD); empty for all calls."),
        "window_end": Param(None, type=["null", "string"], format="date", title="Training window end",
                            description="Last call date to train on (YYYY-MM-DD); empty for all calls."),
        "seed": Param(42, type="integer", minimum=0, title="Random seed"),
        "promote": Param("if_better", enum=PROMOTE_MODES, title="Promotion",
                         description="if_better: only when it beats the champion; always; never."),
    },
)
def bank_scoring_retrain():
    @task
    def check_training_data(**context) -> dict:
        """Refuse bad Params or unusable training rows before any training starts."""
        from bank_scoring_dag_support import bank_engine

        from bank_scoring.train import check_training_window

        params = context["params"]
        return check_training_window(bank_engine(), params["window_start"], params["window_end"])

    @task
    def train_and_register(checked: dict, **context) -> dict:
        """Train, evaluate on held-out calls, register, and promote when better."""
        import datetime as dt

        from bank_scoring_dag_support import bank_engine

        from bank_scoring.train import train_model

        params = context["params"]
        result = train_model(
            bank_engine(), load_settings().model_dir, estimator=params["estimator"],
            window_start=dt.date.fromisoformat(checked["window_start"]) if checked["window_start"] else None,
            window_end=dt.date.fromisoformat(checked["window_end"]) if checked["window_end"] else None,
            seed=params["seed"], promote=params["promote"], actor=f"airflow:{context['run_id']}",
        )
        print(f"model v{result.model_version}: {result.status}; {result.decision}")
        return {"model_version": result.model_version, "status": result.status, "decision": result.decision,
                "roc_auc": result.metrics.get("roc_auc"), "reused": result.reused}

    @task(outlets=[CHAMPION_MODEL])
    def announce_champion(result: dict, *, outlet_events=None) -> None:
        """Emit an event on the champion-model Asset, only when this run promoted a model."""
        from airflow.sdk.exceptions import AirflowSkipException

        if result["status"] != "champion" or result["reused"]:
            raise AirflowSkipException(f"no new champion: v{result['model_version']} is {result['status']}")
        outlet_events[CHAMPION_MODEL].extra = {"model_version": result["model_version"], "roc_auc": result["roc_auc"]}

    announce_champion(train_and_register(check_training_data()))


bank_scoring_retrain()

if __name__ == "__main__":
    bank_scoring_retrain().test()
