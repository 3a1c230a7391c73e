"""Airflow for real: a throwaway AIRFLOW_HOME with its own metadata database."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
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
