"""Shared fixtures: real SQLite files and real PostgreSQL databases, created and dropped here.

PostgreSQL tests skip when the local server is missing, except under CI=true, where they
fail: CI must not pass by skipping them.

Trained databases: training is the slow part of preparing a test, so each session trains one
model per kind of database on a template (3,000 synthetic customers, a champion) and every
test that asks for one gets its own copy of the database and of the model folder
(``support.copy_template``), free to retrain, promote, score or damage them:

- ``trained_sqlite_url`` / ``trained_pg_url``: the copy's URL; its models are in ``model_dir``
- ``trained_db_url``: either of them, the test runs once per database (like ``db_url``)
- ``trained_engine`` (on ``trained_db_url``), ``trained_sqlite_engine``, ``pg_trained``: engines on the copy

Published nights (tests/agents and tests/desk): the trained template scored for
``support.DAY`` with agents ana and ben and team lead tess, again one template per session
and database: ``night_sqlite_template`` / ``night_pg_template``, ``night_pg_url``, ``pg_night``.

Markers follow the fixtures too (``pytest_collection_modifyitems``): a test that uses
PostgreSQL is marked ``postgres``, one that runs ``airflow dags test`` is marked ``airflow``.

Importing this module changes nothing: Airflow's environment (a throwaway AIRFLOW_HOME, so
no test touches ~/airflow) is set by ``pytest_configure`` and undone by ``pytest_unconfigure``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import text
from support import (
    Template,
    copy_template,
    create_pg_database,
    drop_pg_database,
    load_synthetic,
    publish_night,
    require,
)

from bank_scoring.db import init_db, make_db_engine

ROOT = Path(__file__).resolve().parent.parent
DAGS = ROOT / "dags"
PG_ADMIN_URL = os.environ.get("BANK_SCORING_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")

# --- Airflow for real: a throwaway AIRFLOW_HOME with its own metadata database. ---

AIRFLOW_HOME_KEY = pytest.StashKey[Path]()
_saved_env: dict[str, str | None] = {}


def pytest_configure(config):
    """Point Airflow at a temporary home for the session, before any test module imports it."""
    home = config.stash[AIRFLOW_HOME_KEY] = Path(tempfile.mkdtemp(prefix="bank_scoring_airflow_"))
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "BANK_SCORING_RETRY_DELAY_SECONDS": "1",  # retried tasks wait a second, not minutes
    }
    for name, value in env.items():
        _saved_env.setdefault(name, os.environ.get(name))
        os.environ[name] = value


def pytest_unconfigure(config):
    """Remove the temporary Airflow home and give the environment back."""
    home = config.stash.get(AIRFLOW_HOME_KEY, None)
    if home is not None:
        shutil.rmtree(home, ignore_errors=True)
    for name, value in _saved_env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    _saved_env.clear()


def pytest_collection_modifyitems(config, items):
    """Mark tests by what they use, so ``-m`` selections cannot miss one."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        params = getattr(getattr(item, "callspec", None), "params", {})
        # db_url, trained_db_url and the like pick PostgreSQL by the parameter "postgresql".
        on_pg = any(isinstance(value, str) and value == "postgresql" for value in params.values())
        if "pg_admin_url" in used or on_pg:
            item.add_marker(pytest.mark.postgres)
        if "dags_test" in used:
            item.add_marker(pytest.mark.airflow)


def airflow_bin() -> str:
    return str(Path(sys.executable).with_name("airflow"))


@pytest.fixture(scope="session")
def airflow_home(pytestconfig) -> Path:
    """The session's AIRFLOW_HOME with its metadata database migrated."""
    home = pytestconfig.stash[AIRFLOW_HOME_KEY]
    done = subprocess.run(
        [airflow_bin(), "db", "migrate"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "AIRFLOW_HOME": str(home)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return home


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
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env={**os.environ, **env}, cwd=tmp_path)
        log = tmp_path / f"{dag_id}-{logical_date}.log"
        log.write_text(done.stdout + done.stderr)
        done.log = log
        return done

    return run


# --- The UCI files (beside the project in ../shared/data, or named by BANK_CSV). ---


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


# --- Empty databases. ---


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
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    url = create_pg_database(pg_admin_url)
    yield url
    drop_pg_database(pg_admin_url, url)


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
    """A database with 3,000 synthetic customers and their past calls, no model."""
    load_synthetic(engine)
    return engine


@pytest.fixture
def model_dir(tmp_path) -> Path:
    """The test's model folder; the trained fixtures put their copy of the models here."""
    return tmp_path / "models"


# --- Trained databases: one template per session and database, a copy per test. ---


def _train(template: Template) -> None:
    from bank_scoring.training import train_model

    engine = make_db_engine(template.url)
    try:
        init_db(engine)
        load_synthetic(engine)
        train_model(engine, template.model_dir)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def trained_sqlite_template(tmp_path_factory) -> Template:
    """SQLite: 3,000 synthetic customers, their calls and a champion; copied, never used directly."""
    root = tmp_path_factory.mktemp("trained_sqlite")
    template = Template(f"sqlite:///{root / 'bank.db'}", root / "models")
    _train(template)
    return template


@pytest.fixture(scope="session")
def trained_pg_template(pg_admin_url, tmp_path_factory):
    """PostgreSQL: as ``trained_sqlite_template``; the template of the tests' ``create database``."""
    root = tmp_path_factory.mktemp("trained_pg")
    template = Template(create_pg_database(pg_admin_url), root / "models", pg_admin_url)
    try:
        _train(template)
        yield template
    finally:
        drop_pg_database(pg_admin_url, template.url)


@pytest.fixture
def trained_sqlite_url(trained_sqlite_template, tmp_path, model_dir) -> str:
    """The test's own copy (at the ``sqlite_url`` path) of the trained SQLite template, models in ``model_dir``."""
    return copy_template(trained_sqlite_template, model_dir, tmp_path / "bank.db")


@pytest.fixture
def trained_pg_url(trained_pg_template, model_dir):
    """The test's own PostgreSQL copy of the trained template, models in ``model_dir``; dropped after."""
    url = copy_template(trained_pg_template, model_dir)
    yield url
    drop_pg_database(trained_pg_template.admin_url, url)


@pytest.fixture(params=["sqlite", "postgresql"])
def trained_db_url(request) -> str:
    """A trained copy; the test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("trained_sqlite_url")
    return request.getfixturevalue("trained_pg_url")


@pytest.fixture
def trained_engine(trained_db_url):
    """An engine on ``trained_db_url``: 3,000 customers, their calls and a champion."""
    eng = make_db_engine(trained_db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def trained_sqlite_engine(trained_sqlite_url):
    eng = make_db_engine(trained_sqlite_url)
    yield eng
    eng.dispose()


@pytest.fixture
def pg_trained(trained_pg_url):
    """PostgreSQL with a schema from init-db, 3,000 customers and a champion (models in ``model_dir``)."""
    eng = make_db_engine(trained_pg_url)
    yield eng
    eng.dispose()


# --- Published nights (tests/agents, tests/desk): the trained templates scored for DAY. ---


@pytest.fixture(scope="session")
def night_sqlite_template(trained_sqlite_template, tmp_path_factory) -> Template:
    root = tmp_path_factory.mktemp("night_sqlite")
    url = copy_template(trained_sqlite_template, root / "models", root / "bank.db")
    publish_night(url)
    return Template(url, root / "models")


@pytest.fixture(scope="session")
def night_pg_template(trained_pg_template, tmp_path_factory):
    root = tmp_path_factory.mktemp("night_pg")
    url = copy_template(trained_pg_template, root / "models")
    try:
        publish_night(url)
        yield Template(url, root / "models", trained_pg_template.admin_url)
    finally:
        drop_pg_database(trained_pg_template.admin_url, url)


@pytest.fixture
def night_pg_url(night_pg_template, model_dir):
    url = copy_template(night_pg_template, model_dir)
    yield url
    drop_pg_database(night_pg_template.admin_url, url)


@pytest.fixture
def pg_night(night_pg_url):
    """PostgreSQL: a published night (3,000 customers scored for DAY, ana, ben and tess)."""
    eng = make_db_engine(night_pg_url)
    yield eng
    eng.dispose()
