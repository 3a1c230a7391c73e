"""
### Nightly lead scoring

Scores every customer with the champion model for the run's date and publishes the scores
for the agents' worklist (`agent_worklist`).

* The score date is the run's logical date (a manual run may set `score_date`), never "now".
* Customers are split into customer-id ranges scored as mapped tasks; each range can be
  retried on its own without duplicating anything.
* `publish` makes the whole run visible in one transaction; until then agents keep seeing
  the previous published run. Customers that cannot be scored go to `scoring_rejects`.
* `harvest_calls` runs first (scoring starts even when it failed): agents' finished calls
  become training rows and are counted into the customers' `campaign`, `pdays` and
  `previous_*`, so tonight's scores see yesterday's calls. When the labels harvested since
  the last training reach `BANK_SCORING_RETRAIN_NEW_LABELS` (default 500),
  `announce_new_labels` emits an event on the Asset `bank_scoring://campaign_contacts/labelled`,
  which also schedules the retrain.
* `field_check` compares the previous day's subscriptions with the sum of the called leads'
  propensities per band (`field_checks`) and sets an alert on that day's run when off.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task
from bank_scoring_dag_support import DEFAULT_ARGS, bank_engine, labelled_asset

from bank_scoring.config import load_settings

LABELLED_CALLS = labelled_asset()


@dag(
    dag_id="bank_scoring_nightly",
    schedule=load_settings().nightly_schedule,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["bank-scoring", "scoring"],
    doc_md=__doc__,
    params={
        "score_date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Score date",
            description="YYYY-MM-DD; empty for the run's logical date.",
        ),
        "partitions": Param(
            load_settings().partitions,
            type="integer",
            minimum=1,
            maximum=256,
            title="Partitions",
            description="Customer-id ranges scored in parallel.",
        ),
    },
)
def bank_scoring_nightly():
    @task
    def harvest_calls() -> dict:
        """Turn finished calls into training rows (each once) and count them into the customers."""
        from bank_scoring.loop.labels import nightly_harvest

        found = nightly_harvest(bank_engine(), load_settings().retrain_new_labels)
        print(
            f"harvest: {found.harvest['rows_added']} training row(s) added; {found.new_labels} new label(s) "
            f"since the last training (retrain at {found.threshold})"
        )
        return found.as_dict()

    @task(outlets=[LABELLED_CALLS])
    def announce_new_labels(harvested: dict, *, outlet_events=None) -> None:
        """Emit an event on the labelled-calls Asset, only when enough new labels arrived."""
        from airflow.sdk.exceptions import AirflowSkipException

        if not harvested["retrain_due"]:
            raise AirflowSkipException(
                f"{harvested['new_labels']} new label(s) since the last training, below {harvested['threshold']}"
            )
        outlet_events[LABELLED_CALLS].extra = {
            "new_labels": harvested["new_labels"],
            "threshold": harvested["threshold"],
        }

    @task
    def field_check(score_date: str) -> dict:
        """The previous day's subscriptions against the model's expected, per band; alert when off."""
        import datetime as dt

        from bank_scoring.loop.field import field_check as check
        from bank_scoring.loop.field import format_field_check

        found = check(bank_engine(), dt.date.fromisoformat(score_date) - dt.timedelta(days=1))
        print(format_field_check(found))
        if found.alert:  # in the task log, and on that day's run for the figures
            print(f"WARNING: {found.alert}")
        return found.as_dict()

    # all_done: a failed harvest is seen in Airflow, and the night is still scored.
    @task(multiple_outputs=True, trigger_rule="all_done")
    def start_scoring_run(**context) -> dict:
        """Register the run with the champion model, checking its artifact before anything is written."""
        from bank_scoring.scoring import resolve_score_date, start_run

        params = context["params"]
        run_date = context.get("logical_date") or context["dag_run"].run_after
        score_date = resolve_score_date(params["score_date"], run_date)
        run_id = start_run(bank_engine(), score_date, partitions=params["partitions"])
        print(f"run {run_id}: scoring {score_date}")
        return {"run_id": run_id, "score_date": score_date.isoformat()}

    @task
    def plan_partitions(scoring_run: int, **context) -> list[dict]:
        """Split the customers into id ranges of near-equal size, one mapped task each."""
        from bank_scoring import scoring

        ranges = scoring.plan_partitions(bank_engine(), context["params"]["partitions"])
        print(f"run {scoring_run}: {len(ranges)} partition(s)")
        return [{"run_id": scoring_run, "low": low, "high": high} for low, high in ranges]

    # A mapped task does not take its docstring as doc_md, so it is given here.
    @task(
        map_index_template="{{ task.op_kwargs['partition']['low'] }}-{{ task.op_kwargs['partition']['high'] }}",
        doc_md="Score one customer-id range; a retry first removes what the failed attempt wrote.",
    )
    def score_partition(partition: dict) -> dict:
        """Score one customer-id range; a retry first removes what the failed attempt wrote."""
        from bank_scoring import scoring

        counts = scoring.score_partition(
            bank_engine(),
            partition["run_id"],
            partition["low"],
            partition["high"],
            chunk_rows=load_settings().chunk_rows,
        )
        print(
            f"customers {partition['low']}-{partition['high']}: {counts['scored']} scored, "
            f"{counts['rejected']} rejected"
        )
        return counts

    @task
    def publish(scoring_run: int, counts: list[dict]) -> dict:
        """Publish the complete run for agents in one transaction."""
        from bank_scoring.scoring import publish_run

        summary = publish_run(bank_engine(), scoring_run, reason_rows=load_settings().reason_rows)
        print(
            f"published run {summary.run_id} for {summary.score_date}: {summary.customers_scored} scored, "
            f"{summary.customers_rejected} rejected, {summary.seconds:.1f}s"
        )
        if summary.drift_alert:  # in the task log, and in the run's row for dashboards
            print(f"WARNING: {summary.drift_alert}; see run_drift for run {summary.run_id}")
        return {
            "run_id": summary.run_id,
            "score_date": summary.score_date.isoformat(),
            "customers_scored": summary.customers_scored,
            "customers_rejected": summary.customers_rejected,
            "max_psi": summary.max_psi,
            "drift_alert": summary.drift_alert,
        }

    @task(trigger_rule="one_failed", retries=0)
    def fail_run(scoring_run: int | None, score_date: str | None) -> None:
        """Mark the run failed and drop its staging rows; the previous published run stays."""
        from airflow.sdk.exceptions import AirflowFailException

        from bank_scoring.scoring import mark_failed

        if not scoring_run:
            raise AirflowFailException("the scoring run could not start: see the start_scoring_run log")
        mark_failed(bank_engine(), scoring_run, "a task of the nightly DAG run failed")
        raise AirflowFailException(
            f"scoring run {scoring_run} for {score_date} failed; agents still see the previous published run"
        )

    harvested = harvest_calls()
    announce_new_labels(harvested)
    run = start_scoring_run()
    harvested >> run
    field_check(run["score_date"])
    counts = score_partition.expand(partition=plan_partitions(run["run_id"]))
    published = publish(run["run_id"], counts)
    published >> fail_run(run["run_id"], run["score_date"])


bank_scoring_nightly()

if __name__ == "__main__":
    bank_scoring_nightly().test()
