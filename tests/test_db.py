from sqlalchemy import inspect, text

from bank_scoring.db import SCHEMA_FILES, SQL_DIR, init_db, render_sql, safe_url, split_sql

TABLES = {"customers", "campaign_contacts", "load_batches", "model_versions", "model_events", "scoring_runs",
          "customer_scores", "customer_scores_staging", "scoring_rejects", "call_outcomes"}


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
    row = ("insert into model_versions (model_version, algorithm, params_json, feature_columns_json, "
           "training_fingerprint, training_rows, training_positives, holdout_rows, metrics_json, "
           "library_versions_json, code_version, artifact_path, artifact_sha256, status) "
           "values (:v, 'x', '{}', '[]', 'fp', 1, 1, 1, '{}', '{}', 'c', 'p', 's', 'champion')")
    with engine.begin() as conn:
        conn.execute(text(row), {"v": 1})
    try:
        with engine.begin() as conn:
            conn.execute(text(row), {"v": 2})
    except Exception as exc:  # IntegrityError on both databases
        assert "unique" in str(exc).lower()
    else:
        raise AssertionError("a second champion was accepted")


def test_split_and_render():
    assert split_sql("-- a; comment\ncreate table a (x int);\n\ncreate view b as select 1;") == [
        "create table a (x int)", "create view b as select 1"]
    assert "identity" in render_sql("id {{auto_id}}", "postgresql")
    assert "autoincrement" in render_sql("id {{auto_id}}", "sqlite")


def test_safe_url_hides_the_password():
    assert "hunter2" not in safe_url("postgresql+psycopg://u:hunter2@h/db")
