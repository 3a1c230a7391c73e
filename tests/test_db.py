from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from bank_scoring.db import (
    ADDED_COLUMNS,
    SCHEMA_FILES,
    SQL_DIR,
    SchemaUpgradeError,
    init_db,
    make_db_engine,
    render_sql,
    safe_url,
    split_sql,
)

TABLES = {
    "customers",
    "campaign_contacts",
    "load_batches",
    "model_versions",
    "model_events",
    "scoring_runs",
    "customer_scores",
    "customer_scores_staging",
    "scoring_rejects",
    "call_outcomes",
}
CHAMPION_ROW = (
    "insert into model_versions (model_version, algorithm, params_json, feature_columns_json, "
    "training_fingerprint, training_rows, training_positives, holdout_rows, metrics_json, "
    "library_versions_json, code_version, artifact_path, artifact_sha256, status) "
    "values (:v, 'x', '{}', '[]', 'fp', 1, 1, 1, '{}', '{}', 'c', 'p', 's', 'champion')"
)


def test_every_sql_file_is_applied_and_has_a_grain_comment():
    on_disk = {p.name for p in SQL_DIR.glob("*.sql")}
    assert set(SCHEMA_FILES) <= on_disk
    for name in SCHEMA_FILES:
        first = (SQL_DIR / name).read_text().splitlines()[0]
        assert first.startswith(f"-- {name.removesuffix('.sql')}:"), name


def test_init_db_creates_everything_and_is_harmless_twice(engine):
    init_db(engine)  # the fixture already ran it once
    inspector = inspect(engine)
    assert TABLES <= set(inspector.get_table_names())
    assert {"agent_worklist", "published_leads"} <= set(inspector.get_view_names())


def test_only_one_champion_is_possible(engine):
    with engine.begin() as conn:
        conn.execute(text(CHAMPION_ROW), {"v": 1})
    try:
        with engine.begin() as conn:
            conn.execute(text(CHAMPION_ROW), {"v": 2})
    except Exception as exc:  # IntegrityError on both databases
        assert "unique" in str(exc).lower()
    else:
        raise AssertionError("a second champion was accepted")


def test_split_and_render():
    assert split_sql("-- a; comment\ncreate table a (x int);\n\ncreate view b as select 1;") == [
        "create table a (x int)",
        "create view b as select 1",
    ]
    assert "identity" in render_sql("id {{auto_id}}", "postgresql")
    assert "autoincrement" in render_sql("id {{auto_id}}", "sqlite")


def test_safe_url_hides_the_password():
    assert "hunter2" not in safe_url("postgresql+psycopg://u:hunter2@h/db")


def test_init_db_adds_the_columns_an_existing_table_lacks(engine):
    # A database whose tables predate ADDED_COLUMNS: init-db brings them back, keeping the rows.
    # Such a database had neither the views nor the index built on the new columns.
    with engine.begin() as conn:
        conn.execute(text(CHAMPION_ROW), {"v": 1})
        for view in ("call_figures", "agent_worklist", "published_leads"):
            conn.exec_driver_sql(f"drop view {view}")
        conn.exec_driver_sql("drop index call_outcomes_claim")
        for table, column, _ in ADDED_COLUMNS:
            conn.exec_driver_sql(f"alter table {table} drop column {column}")
    assert "report_path" not in {c["name"] for c in inspect(engine).get_columns("model_versions")}
    init_db(engine)
    inspector = inspect(engine)
    for table, column, _ in ADDED_COLUMNS:
        assert column in {c["name"] for c in inspector.get_columns(table)}, (table, column)
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from model_versions where report_path is null")).scalar() == 1


def test_an_unpartitioned_customer_scores_is_refused_with_what_to_do(pg_url):
    engine = make_db_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("create table scoring_runs (run_id integer primary key)")
        conn.exec_driver_sql(
            "create table customer_scores (score_date date not null, customer_id bigint not null, "
            "primary key (score_date, customer_id))"
        )
    with pytest.raises(SchemaUpgradeError) as refused:
        init_db(engine)
    message = str(refused.value)
    assert "customer_scores" in message and "unpartitioned" in message
    assert "drop table customer_scores" in message and "`bank-scoring init-db` again" in message
    assert "new database" in message and isinstance(refused.value, ValueError)
    # Refused before anything changed: no table created, no column added.
    inspector = inspect(engine)
    assert set(inspector.get_table_names()) == {"scoring_runs", "customer_scores"}
    assert [c["name"] for c in inspector.get_columns("scoring_runs")] == ["run_id"]
    # What the message says to do works.
    with engine.begin() as conn:
        conn.exec_driver_sql("drop table customer_scores cascade")
        conn.exec_driver_sql("drop table scoring_runs cascade")
    init_db(engine)
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("select count(*) from pg_partitioned_table where partrelid = 'customer_scores'::regclass")
            ).scalar()
            == 1
        )
    engine.dispose()


def test_sql_dir_is_the_checkouts_sql_folder_here():
    # A wheel carries sql/ as bank_scoring/sql (tests/test_packaging.py); a checkout reads it in place.
    assert SQL_DIR == Path(__file__).resolve().parent.parent / "sql"
    assert (SQL_DIR / "customers.sql").is_file()
