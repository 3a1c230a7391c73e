"""1 and 2: bad customer rows are scored or rejected with a reason; bad training data fails clearly."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DataError, IntegrityError, StatementError

from bank_scoring import registry
from bank_scoring.scoring import score_customers
from bank_scoring.training import train_model
from bank_scoring.validate import TrainingDataError

from .conftest import DAY, scalar

INSERT = text(
    "insert into customers (customer_id, age, job, marital, education, has_credit_default, balance, "
    "has_housing_loan, has_personal_loan, contact_channel, campaign, pdays, previous_contacts, previous_outcome) "
    "values (:id, :age, :job, :marital, 'secondary', false, :balance, :housing, false, 'cellular', :campaign, -1, 0, "
    "'unknown')"
)
BASE = {"age": 40, "job": "technician", "marital": "single", "balance": 100, "housing": True, "campaign": 1}

BAD_ROWS = {  # id: (changes, reason or None when it must be scored)
    800001: ({"age": None}, "age is missing"),
    800002: ({"age": -1}, "age -1 is outside 18..110"),
    800003: ({"age": 250}, "age 250 is outside 18..110"),
    800004: ({"balance": 5_000_000_000}, "balance 5000000000 is outside -100000000..1000000000"),
    800005: ({"job": "prompt engineer"}, None),
    800006: ({"marital": None, "housing": None}, "marital is missing; has_housing_loan is missing"),
    800007: ({"campaign": -4}, "campaign -4 is outside 0..1000"),
    800008: ({"job": "   "}, "job is missing"),
}


def insert_rows(engine, rows):
    with engine.begin() as conn:
        for cid, changes in rows.items():
            conn.execute(INSERT, {**BASE, **changes, "id": cid})


def test_each_bad_customer_is_scored_or_rejected_and_counts_reconcile(ready):
    insert_rows(ready, {cid: changes for cid, (changes, _) in BAD_ROWS.items()})
    run = score_customers(ready, DAY, partitions=3)
    total = scalar(ready, "select count(*) from customers")
    assert run.customers_scored + run.customers_rejected == total == 3_008
    with ready.connect() as conn:
        rejects = dict(
            conn.execute(
                text("select customer_id, reason from scoring_rejects where run_id = :r"), {"r": run.run_id}
            ).all()
        )
        scored = {
            r[0]
            for r in conn.execute(text("select customer_id from customer_scores where run_id = :r"), {"r": run.run_id})
        }
    for cid, (_, reason) in BAD_ROWS.items():
        if reason is None:
            assert cid in scored and cid not in rejects
        else:
            assert rejects[cid] == reason and cid not in scored
    assert len(scored | set(rejects)) == total and not scored & set(rejects)


def test_text_in_a_number_column_is_rejected_not_crashed_on_sqlite(trained_sqlite_engine):
    """SQLite stores what it is given; 'abc' in age must become a reject reason."""
    insert_rows(trained_sqlite_engine, {900001: {"age": "abc"}, 900002: {"balance": "lots"}})
    run = score_customers(trained_sqlite_engine, DAY)
    assert (run.customers_scored, run.customers_rejected) == (3000, 2)
    with trained_sqlite_engine.connect() as conn:
        reasons = sorted(r[0] for r in conn.execute(text("select reason from scoring_rejects")))
    assert reasons == ["age is not a number: abc", "balance is not a number: lots"]


def test_postgres_refuses_wrong_types_and_duplicate_ids_at_the_door(pg_ready):
    with pytest.raises((DataError, StatementError)):
        insert_rows(pg_ready, {900001: {"age": "abc"}})
    with pytest.raises(IntegrityError):
        insert_rows(pg_ready, {1: {}})
    assert scalar(pg_ready, "select count(*) from customers") == 3000


def test_labels_other_than_yes_no_stop_the_retrain(trained_sqlite_engine, model_dir):
    engine = trained_sqlite_engine
    champion = registry.require_champion(engine).model_version
    with engine.begin() as conn:
        conn.execute(text("update campaign_contacts set is_subscribed = 'maybe' where contact_id <= 3"))
    with pytest.raises(TrainingDataError, match="3 outcome labels are not yes/no"):
        train_model(engine, model_dir, seed=7)
    assert registry.require_champion(engine).model_version == champion


def test_too_few_positives_and_wrong_schema_stop_the_retrain(pg_ready, model_dir):
    champion = registry.require_champion(pg_ready).model_version
    with pg_ready.begin() as conn:
        conn.execute(text("update campaign_contacts set is_subscribed = false where contact_id > 30"))
    with pytest.raises(TrainingDataError, match="at least 50 are needed"):
        train_model(pg_ready, model_dir, seed=7)
    with pg_ready.begin() as conn:
        conn.execute(text("alter table campaign_contacts drop column pdays"))
    with pytest.raises(TrainingDataError, match="lacks column\\(s\\) pdays"):
        train_model(pg_ready, model_dir, seed=7)
    assert registry.require_champion(pg_ready).model_version == champion
    assert len(registry.list_versions(pg_ready)) == 1


@pytest.mark.airflow
def test_retrain_dag_fails_clearly_on_bad_data_and_keeps_the_champion(pg_ready, model_dir, dags_test):
    champion = registry.require_champion(pg_ready).model_version
    with pg_ready.begin() as conn:
        conn.execute(text("update campaign_contacts set is_subscribed = false"))
    url = pg_ready.url.render_as_string(hide_password=False).replace("postgresql+psycopg", "postgresql")
    done = dags_test(
        "bank_scoring_retrain",
        "2026-11-22",
        {"AIRFLOW_CONN_BANK_SCORING_DB": url, "BANK_SCORING_MODEL_DIR": str(model_dir)},
    )
    assert done.returncode != 0
    assert "only 0 subscribed calls among 3000" in done.log.read_text()
    assert registry.require_champion(pg_ready).model_version == champion
