"""Both DAGs run for real through ``airflow dags test``, on SQLite and on PostgreSQL."""

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from bank_scoring.db import init_db, make_db_engine
from bank_scoring.ingest import load_csv

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def count(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def airflow_env(db_url: str, model_dir: Path, use_connection: bool) -> dict:
    if use_connection:
        # The Airflow connection wins; the env var points nowhere to prove it is not used.
        uri = db_url.replace("postgresql+psycopg://", "postgresql://")
        return {
            "AIRFLOW_CONN_BANK_SCORING_DB": uri,
            "BANK_SCORING_DB_URL": "sqlite:////nonexistent/dir/x.db",
            "BANK_SCORING_MODEL_DIR": str(model_dir),
        }
    return {"BANK_SCORING_DB_URL": db_url, "BANK_SCORING_MODEL_DIR": str(model_dir)}


def test_retrain_then_nightly_scores_every_customer(db_url, bank_sample_csv, tmp_path, dags_test):
    engine = make_db_engine(db_url)
    init_db(engine)
    load_csv(engine, bank_sample_csv)
    env = airflow_env(db_url, tmp_path / "models", use_connection=db_url.startswith("postgresql"))

    retrain = dags_test("bank_scoring_retrain", "2026-11-22", env)
    assert retrain.returncode == 0, retrain.log.read_text()[-4000:]
    assert count(engine, "select count(*) from model_versions where status = 'champion'") == 1

    nightly = dags_test("bank_scoring_nightly", "2026-11-28", env)
    assert nightly.returncode == 0, nightly.log.read_text()[-4000:]
    assert "published run" in nightly.log.read_text()
    assert count(engine, "select count(*) from customer_scores where score_date = '2026-11-28'") == 4_521
    assert count(engine, "select count(distinct customer_id) from customer_scores") == 4_521
    control = count(engine, "select count(*) from lead_assignments where role = 'control'")
    assert 0 < control < 4_521 * 0.1  # the control group, never listed
    assert count(engine, "select count(*) from agent_worklist") == 4_521 - control
    run = dict(
        engine.connect()
        .execute(text("select status, partitions, customers_scored, customers_rejected from scoring_runs"))
        .one()
        ._mapping
    )
    assert run == {"status": "published", "partitions": 2, "customers_scored": 4_521, "customers_rejected": 0}

    # A manual run for an explicit date with more partitions; the first date stays as it was.
    again = dags_test(
        "bank_scoring_nightly", "2026-11-29", env, conf=json.dumps({"score_date": "2026-11-27", "partitions": 4})
    )
    assert again.returncode == 0, again.log.read_text()[-4000:]
    assert count(engine, "select count(*) from customer_scores where score_date = '2026-11-27'") == 4_521
    assert count(engine, "select count(*) from customer_scores") == 2 * 4_521
    engine.dispose()


def test_tampered_model_fails_the_night_loudly_and_keeps_the_last_scores(trained_sqlite_url, model_dir, dags_test):
    from bank_scoring import registry
    from bank_scoring.scoring import score_customers

    engine = make_db_engine(trained_sqlite_url)
    published = score_customers(engine, dt.date(2026, 11, 27))
    artifact = Path(registry.require_champion(engine).artifact_path)
    artifact.write_bytes(artifact.read_bytes()[:-10])

    night = dags_test("bank_scoring_nightly", "2026-11-28", airflow_env(trained_sqlite_url, model_dir, False))
    log = night.log.read_text()
    assert night.returncode != 0
    assert "refusing to load a file that changed" in log
    assert count(engine, "select max(run_id) from agent_worklist") == published.run_id
    assert count(engine, "select count(*) from customer_scores where score_date = '2026-11-28'") == 0
    engine.dispose()


def test_nightly_harvests_announces_new_labels_and_checks_the_field(
    night_sqlite_template, model_dir, tmp_path, dags_test
):
    """Issue 19: yesterday's calls become training rows before scoring; the Asset event and the field check."""
    from support import DAY, at, copy_template

    from bank_scoring.agents.claims import record_outcome

    url = copy_template(night_sqlite_template, model_dir, tmp_path / "bank.db")
    engine = make_db_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text("insert into campaigns (campaign_name, starts_on, ends_on) values ('autumn', :s, :e)"),
            {"s": DAY - dt.timedelta(days=10), "e": DAY + dt.timedelta(days=30)},
        )
        conn.execute(text("update model_versions set created_at = :t"), {"t": at(6)})
        ids = [r[0] for r in conn.execute(text("select customer_id from customers order by customer_id limit 12"))]
    for i, customer in enumerate(ids):
        record_outcome(engine, "tess", customer, "subscribed" if i % 2 else "declined", at(10, i))
    env = {**airflow_env(url, model_dir, False), "BANK_SCORING_RETRAIN_NEW_LABELS": "10"}

    night = dags_test("bank_scoring_nightly", (DAY + dt.timedelta(days=1)).isoformat(), env)
    log = night.log.read_text()
    assert night.returncode == 0, log[-4000:]
    assert "12 new label(s) since the last training (retrain at 10)" in log
    assert count(engine, "select count(*) from campaign_contacts where call_outcome_id is not null") == 12
    # The field check of DAY ran (the team lead's calls had no handed-out lead: nothing to judge).
    assert "field check of 2026-11-28" in log
    assert count(engine, "select count(*) from field_checks where check_day = :d and band = 'all'", d=DAY) == 1
    assert count(engine, "select calls from field_checks where check_day = :d and band = 'all'", d=DAY) == 0
    assert count(engine, "select count(*) from customer_scores where score_date = :d", d=DAY + dt.timedelta(days=1))
    engine.dispose()
