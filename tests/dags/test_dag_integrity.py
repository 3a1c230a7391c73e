"""Every DAG file imports cleanly and has the shape the design promises."""

import pytest

from bank_scoring.config import load_settings


@pytest.fixture(scope="module")
def dagbag(airflow_home, dags_dir):
    import sys

    from airflow.dag_processing.dagbag import DagBag

    # Airflow puts the DAGs folder on sys.path in its processes (modules_management.rst).
    if str(dags_dir) not in sys.path:
        sys.path.append(str(dags_dir))

    return DagBag(dag_folder=str(dags_dir))


def test_no_import_errors_and_exactly_the_contract_dags(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {"bank_scoring_retrain", "bank_scoring_nightly"}


@pytest.mark.parametrize("dag_id", ["bank_scoring_retrain", "bank_scoring_nightly"])
def test_dag_basics(dagbag, dag_id):
    dag = dagbag.get_dag(dag_id)
    assert dag.doc_md and "###" in dag.doc_md
    assert "bank-scoring" in dag.tags
    assert dag.catchup is False and dag.max_active_runs == 1
    for task in dag.tasks:
        assert task.doc_md, f"{task.task_id} has no docs for the UI"
        if task.task_id != "fail_run":
            assert task.retries >= 2, task.task_id


def test_schedules_and_params(dagbag):
    nightly, retrain = dagbag.get_dag("bank_scoring_nightly"), dagbag.get_dag("bank_scoring_retrain")
    settings = load_settings()
    assert nightly.timetable.expression == "0 2 * * *" == settings.nightly_schedule
    # Weekly, or when the nightly harvest announces enough new labelled calls (issue 19).
    assert retrain.timetable.timetable.expression == settings.retrain_schedule
    assert retrain.timetable.asset_condition.uri == "bank_scoring://campaign_contacts/labelled"
    assert set(retrain.params) == {"estimator", "window_start", "window_end", "seed", "promote"}
    assert set(nightly.params) == {"score_date", "partitions"}
    # The harvest comes first: tonight's scores see yesterday's calls.
    assert nightly.get_task("start_scoring_run").upstream_task_ids == {"harvest_calls"}
    assert nightly.get_task("plan_partitions").upstream_task_ids == {"start_scoring_run"}
    assert [o.uri for o in nightly.get_task("announce_new_labels").outlets] == [
        "bank_scoring://campaign_contacts/labelled"
    ]
    assert nightly.get_task("announce_new_labels").upstream_task_ids == {"harvest_calls"}
    assert nightly.get_task("field_check").upstream_task_ids == {"start_scoring_run"}
    assert [o.uri for o in retrain.get_task("announce_champion").outlets] == ["bank_scoring://model_versions/champion"]
    # The report is its own step after training, beside the announcement (a report failure does not hide it).
    assert retrain.get_task("write_report").upstream_task_ids == {"train_and_register"}
    assert retrain.get_task("announce_champion").upstream_task_ids == {"train_and_register"}


def test_bad_params_are_refused_before_any_work(dagbag):
    from airflow.sdk.exceptions import ParamValidationError

    retrain, nightly = dagbag.get_dag("bank_scoring_retrain"), dagbag.get_dag("bank_scoring_nightly")
    bad_values = [
        (retrain, "estimator", "xgboost"),
        (retrain, "seed", -1),
        (retrain, "promote", "maybe"),
        (retrain, "window_start", "last monday"),
        (nightly, "partitions", 0),
        (nightly, "score_date", "28/11/2026"),
    ]
    for dag, name, value in bad_values:
        with pytest.raises(ParamValidationError):
            dag.params.get_param(name).resolve(value)
    assert retrain.params.get_param("window_start").resolve("2009-01-31") == "2009-01-31"


def test_dag_files_do_no_work_at_import(dags_dir):
    """No database access or heavy imports at DAG-file top level."""
    for path in dags_dir.glob("bank_scoring_*.py"):
        top_level = [line for line in path.read_text().splitlines() if line.startswith(("import ", "from "))]
        for line in top_level:
            assert not any(
                heavy in line
                for heavy in (
                    "sklearn",
                    "pandas",
                    "sqlalchemy",
                    "bank_scoring.scoring",
                    "bank_scoring.training",
                    "bank_scoring.db",
                )
            ), (path, line)
