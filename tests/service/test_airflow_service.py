"""Airflow as a service, for real: scheduler, API server and DAG processor (LocalExecutor,
metadata in the local PostgreSQL). The test triggers the DAGs through the REST API, runs a
backfill, and checks the scores. It starts and stops everything itself; the services' logs
stay in the test's tmp_path and are printed when something fails.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from bank_scoring.db import init_db, make_db_engine
from bank_scoring.ingest import load_csv

pytestmark = [pytest.mark.service, pytest.mark.airflow, pytest.mark.slow, pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    def __init__(self, tmp_path: Path, env: dict, port: int):
        self.tmp, self.env, self.port = tmp_path, env, port
        self.procs: dict[str, subprocess.Popen] = {}
        self.base = f"http://127.0.0.1:{port}"
        self.token = None

    def start(self, name: str, *args: str) -> None:
        log = open(self.tmp / f"{name}.log", "w")
        self.procs[name] = subprocess.Popen(
            [AIRFLOW, *args], env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.tmp, start_new_session=True
        )

    def logs(self) -> str:
        return "\n".join(
            f"==== {p.name} (last lines)\n" + "\n".join(p.read_text().splitlines()[-40:])
            for p in sorted(self.tmp.glob("*.log"))
        )

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    def api(self, method: str, path: str, **kwargs) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.request(method, self.base + path, headers=headers, timeout=30, **kwargs)

    def wait(self, what: str, predicate, timeout: float = 300):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                assert proc.poll() is None, f"{name} exited with {proc.returncode}\n{self.logs()}"
            try:
                value = predicate()
            except httpx.HTTPError:
                value = None
            if value:
                return value
            time.sleep(1)
        raise AssertionError(f"timed out waiting for {what}\n{self.logs()}")

    def run_dag(self, dag_id: str, body: dict, timeout: float = 600) -> tuple[dict, float]:
        started = time.monotonic()
        made = self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)
        assert made.status_code == 200, made.text
        run_id = made.json()["dag_run_id"]

        def finished():
            run = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}").json()
            return run if run["state"] in ("success", "failed") else None

        run = self.wait(f"{dag_id} run {run_id}", finished, timeout)
        assert run["state"] == "success", f"{dag_id} {run_id} failed\n{self.logs()}"
        return run, time.monotonic() - started


@contextlib.contextmanager
def airflow_service(tmp_path, pg_admin_url, pg_url, bank_csv, executor="LocalExecutor", workers=0, extra_env=None):
    """Start api-server, scheduler, dag-processor (and Celery workers); stop and clean up after."""
    meta_db = f"bank_scoring_airflow_{uuid.uuid4().hex[:8]}"
    admin = make_db_engine(pg_admin_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'create database "{meta_db}"'))
    bank = make_db_engine(pg_url)
    init_db(bank)
    load_csv(bank, bank_csv)

    port = free_port()
    password = uuid.uuid4().hex
    (tmp_path / "passwords.json").write_text(json.dumps({"bank": password}))
    host = pg_admin_url.split("@", 1)[1].rsplit("/", 1)[0]
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": executor,
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://postgres@{host}/{meta_db}",
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "bank:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(tmp_path / "passwords.json"),
        "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW_CONN_BANK_SCORING_DB": pg_url.replace("postgresql+psycopg", "postgresql"),
        "BANK_SCORING_MODEL_DIR": str(tmp_path / "models"),
        "BANK_SCORING_RETRY_DELAY_SECONDS": "5",
        **(extra_env or {}),
    }
    if executor == "CeleryExecutor":
        env["AIRFLOW__CELERY__RESULT_BACKEND"] = f"db+postgresql://postgres@{host}/{meta_db}"
    migrate = subprocess.run([AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True, timeout=600)
    assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]
    svc = Service(tmp_path, env, port)
    svc.engine = bank
    svc.start("api-server", "api-server", "--port", str(port))
    svc.start("scheduler", "scheduler")
    svc.start("dag-processor", "dag-processor")
    for n in range(1, workers + 1):
        svc.env = {
            **env,
            "BANK_SCORING_WORKER_NAME": f"worker-{n}",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        }
        svc.start(f"worker-{n}", "celery", "worker", "--concurrency", "1", "--celery-hostname", f"worker{n}@%h")
    svc.env = env
    try:
        svc.wait("the API server", lambda: svc.api("GET", "/api/v2/monitor/health").status_code == 200, 180)
        token = svc.api("POST", "/auth/token", json={"username": "bank", "password": password})
        assert token.status_code in (200, 201), token.text
        svc.token = token.json()["access_token"]
        yield svc
    finally:
        svc.stop()
        bank.dispose()
        with admin.connect() as conn:
            conn.execute(
                text("select pg_terminate_backend(pid) from pg_stat_activity where datname = :d"), {"d": meta_db}
            )
            conn.execute(text(f'drop database if exists "{meta_db}"'))
        admin.dispose()


@pytest.fixture
def service(tmp_path, pg_admin_url, pg_url, bank_full_csv):
    with airflow_service(tmp_path, pg_admin_url, pg_url, bank_full_csv) as svc:
        yield svc


def scores_for(engine, day: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text("select count(*) from customer_scores where score_date = :d"), {"d": day}).scalar()


def test_retrain_and_nightly_through_the_rest_api_then_a_backfill(service):
    for dag_id in ("bank_scoring_retrain", "bank_scoring_nightly"):
        service.wait(f"{dag_id} parsed", lambda d=dag_id: service.api("GET", f"/api/v2/dags/{d}").status_code == 200)
    dag = service.api("GET", "/api/v2/dags/bank_scoring_nightly/details").json()
    assert dag["doc_md"].strip().startswith("### Nightly lead scoring")
    assert set(dag["params"]) == {"score_date", "partitions"}

    # Bad Params are refused by the API before any run exists.
    refused = service.api(
        "POST",
        "/api/v2/dags/bank_scoring_retrain/dagRuns",
        json={"logical_date": None, "conf": {"estimator": "xgboost"}},
    )
    assert refused.status_code == 400, refused.text

    for dag_id in ("bank_scoring_retrain", "bank_scoring_nightly"):
        assert service.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False}).status_code == 200
    service.run_dag("bank_scoring_retrain", {"logical_date": None, "conf": {"estimator": "hist_gradient_boosting"}})
    with service.engine.connect() as conn:
        assert conn.execute(text("select count(*) from model_versions where status = 'champion'")).scalar() == 1
    events = service.api("GET", "/api/v2/assets/events").json()["asset_events"]
    assert [(e["uri"], e["extra"]["model_version"]) for e in events] == [("bank_scoring://model_versions/champion", 1)]

    # (Unpausing let the scheduler start tonight's own run too; this one is for another date.)
    run, seconds = service.run_dag("bank_scoring_nightly", {"logical_date": "2026-11-25T02:00:00Z"})
    assert scores_for(service.engine, "2026-11-25") == 45_211
    print(f"\nnightly run of bank-full through the scheduler: {seconds:.1f}s from trigger to success")
    (service.tmp / "nightly_seconds.txt").write_text(f"{seconds:.1f}\n")

    backfill = subprocess.run(
        [
            AIRFLOW,
            "backfill",
            "create",
            "--dag-id",
            "bank_scoring_nightly",
            "--from-date",
            "2026-11-20T00:00:00",
            "--to-date",
            "2026-11-22T23:00:00",
        ],
        env=service.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert backfill.returncode == 0, backfill.stdout[-2000:] + backfill.stderr[-2000:]

    def backfilled():
        runs = service.api(
            "GET", "/api/v2/dags/bank_scoring_nightly/dagRuns", params={"run_type": "backfill", "limit": 10}
        ).json()["dag_runs"]
        states = [r["state"] for r in runs]
        assert "failed" not in states, f"a backfill run failed\n{service.logs()}"
        return len(runs) == 3 and all(s == "success" for s in states)

    service.wait("three backfill runs", backfilled, 900)
    for day in ("2026-11-20", "2026-11-21", "2026-11-22"):
        assert scores_for(service.engine, day) == 45_211, day
    with service.engine.connect() as conn:
        published = conn.execute(
            text("select count(distinct score_date) from scoring_runs where status = 'published'")
        ).scalar()
    assert published >= 4


def test_nightly_partitions_spread_over_two_celery_workers(tmp_path, pg_admin_url, pg_url, bank_full_csv):
    """CeleryExecutor, broker the local Redis, result backend PostgreSQL, two workers."""
    from support import require

    from bank_scoring.scoring import score_customers
    from bank_scoring.training import train_model

    with socket.socket() as probe:
        require(probe.connect_ex(("127.0.0.1", 6379)) == 0, "Redis (the Celery broker) is not running on 6379")
    celery_env = {
        "AIRFLOW__CELERY__BROKER_URL": "redis://127.0.0.1:6379/11",
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "worker_name.hostname",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")])),
    }
    with airflow_service(
        tmp_path, pg_admin_url, pg_url, bank_full_csv, "CeleryExecutor", workers=2, extra_env=celery_env
    ) as svc:
        train_model(svc.engine, Path(svc.env["BANK_SCORING_MODEL_DIR"]))
        svc.wait("nightly parsed", lambda: svc.api("GET", "/api/v2/dags/bank_scoring_nightly").status_code == 200)
        assert svc.api("PATCH", "/api/v2/dags/bank_scoring_nightly", json={"is_paused": False}).status_code == 200
        run, seconds = svc.run_dag(
            "bank_scoring_nightly", {"logical_date": None, "conf": {"score_date": "2026-11-25", "partitions": 6}}
        )
        tis = svc.api(
            "GET",
            f"/api/v2/dags/bank_scoring_nightly/dagRuns/{run['dag_run_id']}/taskInstances",
            params={"task_id": "score_partition", "limit": 50},
        ).json()["task_instances"]
        hosts = {ti["hostname"] for ti in tis if ti["task_id"] == "score_partition"}
        print(f"\nCelery nightly run: {seconds:.1f}s; partitions ran on {sorted(hosts)}")
        assert len([ti for ti in tis if ti["task_id"] == "score_partition"]) == 6
        assert hosts == {"worker-1", "worker-2"}, hosts

        # The same model scoring the same date in one local process gives the same propensities
        # (the date matters: its month and day are features). The Celery run's scores are kept
        # aside first, since rescoring a date replaces them.
        with svc.engine.begin() as conn:
            conn.execute(
                text(
                    "create table celery_scores as select customer_id, propensity, rank "
                    "from customer_scores where score_date = '2026-11-25'"
                )
            )
        score_customers(svc.engine, dt.date(2026, 11, 25))
        with svc.engine.connect() as conn:
            differing = conn.execute(
                text(
                    "select count(*) from celery_scores a join customer_scores b using (customer_id) "
                    "where b.score_date = '2026-11-25' "
                    "and (a.propensity <> b.propensity or a.rank <> b.rank)"
                )
            ).scalar()
            paired = conn.execute(
                text(
                    "select count(*) from celery_scores a join customer_scores b using (customer_id) "
                    "where b.score_date = '2026-11-25'"
                )
            ).scalar()
        assert (paired, differing) == (45_211, 0)
