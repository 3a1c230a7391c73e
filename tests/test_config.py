from pathlib import Path

import pytest

from bank_scoring.config import db_url_from_airflow_connection, load_settings


def test_defaults_live_under_var_in_the_working_folder(tmp_path):
    settings = load_settings({}, cwd=tmp_path)
    assert settings.db_url == f"sqlite:///{(tmp_path / 'var' / 'bank_scoring.db').resolve()}"
    assert settings.model_dir == tmp_path / "var" / "models"
    assert settings.bank_csv is None
    assert settings.nightly_schedule == "0 2 * * *"


def test_environment_overrides(tmp_path):
    settings = load_settings(
        {
            "BANK_SCORING_DB_URL": "postgresql://u@h/db",
            "BANK_SCORING_MODEL_DIR": "/m",
            "BANK_CSV": "/d/bank.csv",
            "BANK_SCORING_PARTITIONS": "8",
        },
        cwd=tmp_path,
    )
    assert settings.db_url == "postgresql://u@h/db"
    assert settings.model_dir == Path("/m")
    assert settings.bank_csv == Path("/d/bank.csv")
    assert settings.partitions == 8


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_bad_partition_count_names_the_variable(value):
    with pytest.raises(ValueError, match="BANK_SCORING_PARTITIONS"):
        load_settings({"BANK_SCORING_PARTITIONS": value})


def test_airflow_postgres_connection_becomes_a_psycopg_url():
    url = db_url_from_airflow_connection("postgres", "db.bank", "pipeline", "s3cr/t@", "bank", 5433, {})
    assert url == "postgresql+psycopg://pipeline:s3cr%2Ft%40@db.bank:5433/bank"


def test_airflow_connection_extra_url_wins_and_unknown_type_is_refused():
    assert (
        db_url_from_airflow_connection("generic", None, None, None, None, None, {"sqlalchemy_url": "sqlite:///x.db"})
        == "sqlite:///x.db"
    )
    with pytest.raises(ValueError, match="mysql"):
        db_url_from_airflow_connection("mysql", "h", None, None, None, None, None)
