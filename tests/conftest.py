"""Shared fixtures: real SQLite files and real PostgreSQL databases, created and dropped here.

PostgreSQL tests skip when the local server is missing, except under CI=true, where they
fail: CI must not pass by skipping them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from support import load_synthetic, require

from bank_scoring.db import init_db, make_db_engine

ROOT = Path(__file__).resolve().parent.parent
# --- Airflow for real: a throwaway AIRFLOW_HOME with its own metadata database. ---
DAGS = ROOT / "dags"
_HOME = Path(tempfile.mkdtemp(prefix="bank_scoring_airflow_"))

# Set before anything imports airflow, so no test touches ~/airflow.
AIRFLOW_ENV = {
    "AIRFLOW_HOME": str(_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    "BANK_SCORING_RETRY_DELAY_SECONDS": "1",
}
os.environ.update(AIRFLOW_ENV)


def airflow_bin() -> str:
    return str(Path(sys.executable).with_name("airflow"))


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    done = subprocess.run([airflow_bin(), "db", "migrate"], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **AIRFLOW_ENV})
    assert done.returncode == 0, done.stderr[-3000:]
    return _HOME


@pytest.fixture(scope="session")
def dags_dir() -> Path:
    return DAGS


@pytest.fixture
def dags_test(airflow_home, tmp_path):
    """Run ``airflow dags test`` as a user would; its log is kept in the test's tmp_path."""

    def run(dag_id: str, logical_date: str, env: dict, conf: str | None = None):
        cmd = [airflow_bin(), "dags", "test", dag_id, logical_date]
        if conf:
            cmd += ["--conf", conf]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900,
                              env={**os.environ, **AIRFLOW_ENV, **env}, cwd=tmp_path)
        log = tmp_path / f"{dag_id}-{logical_date}.log"
        log.write_text(done.stdout + done.stderr)
        done.log = log
        return done

    return run


PG_ADMIN_URL = os.environ.get("BANK_SCORING_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _bank_csv(name: str) -> Path | None:
    env = os.environ.get("BANK_CSV")
    candidates = []
    if env:
        candidates.append(Path(env).with_name(name))
    candidates.append(ROOT.parent / "shared" / "data" / name)
    for path in candidates:
        if path.is_file():
            return path
    return None


@pytest.fixture(scope="session")
def bank_full_csv() -> Path:
    path = _bank_csv("bank-full.csv")
    require(path is not None, "bank-full.csv not found: set BANK_CSV or put ../shared/data beside the project")
    return path


@pytest.fixture(scope="session")
def bank_sample_csv() -> Path:
    path = _bank_csv("bank.csv")
    require(path is not None, "bank.csv not found beside bank-full.csv")
    return path


def _pg_available() -> str | None:
    try:
        engine = make_db_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "no server"
        return str(exc).splitlines()[0]


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    problem = _pg_available()
    require(problem is None, f"PostgreSQL not reachable at {PG_ADMIN_URL}: {problem}")
    return PG_ADMIN_URL


@pytest.fixture
def pg_url(pg_admin_url):
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    name = f"bank_scoring_test_{uuid.uuid4().hex[:10]}"
    admin = make_db_engine(pg_admin_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'create database "{name}"'))
    url = pg_admin_url.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(text("select pg_terminate_backend(pid) from pg_stat_activity where datname = :n"), {"n": name})
        conn.execute(text(f'drop database if exists "{name}"'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'bank.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request) -> str:
    """Runs a test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def engine(db_url):
    eng = make_db_engine(db_url)
    init_db(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(sqlite_url):
    eng = make_db_engine(sqlite_url)
    init_db(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def loaded_engine(engine):
    """A database with 3,000 synthetic customers and their past calls."""
    load_synthetic(engine)
    return engine


@pytest.fixture
def model_dir(tmp_path) -> Path:
    return tmp_path / "models"


@pytest.fixture
def pg_trained(pg_url, model_dir):
    """PostgreSQL with a schema from init-db, 3,000 customers and a champion."""
    from bank_scoring.train import train_model

    engine = make_db_engine(pg_url)
    init_db(engine)
    load_synthetic(engine)
    train_model(engine, model_dir)
    yield engine
    engine.dispose()
