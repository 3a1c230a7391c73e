"""The servers bench/api_latency.py measures and their databases: each app in its own process on a
localhost port (the tutorial's Flask app, `bank-scoring serve`), the database with a trained
champion for POST /api, agent_claims' published night for the agents' calls, and the SQL
functions' statistics read from it."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

from latency_load import HOST, Connection

TUTORIAL_APP = Path(__file__).resolve().parent / "tutorial_app.py"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    """A server in its own process, its output in a log file; stopped (and waited for) on exit."""

    def __init__(self, name: str, command: list[str], port: int, log_path: Path, env: dict | None = None) -> None:
        self.name, self.command, self.port, self.log_path, self.env = name, command, port, log_path, env
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        self.log_file = open(self.log_path, "wb")  # noqa: SIM115 (closed in __exit__)
        self.proc = subprocess.Popen(
            self.command, stdout=self.log_file, stderr=subprocess.STDOUT, env=self.env, cwd=self.log_path.parent
        )
        return self

    def wait_ready(self, request: bytes, timeout: float = 180) -> float:
        """Seconds until the server answers ``request`` with 200 (its model loaded)."""
        started = time.perf_counter()

        async def probe() -> int:
            conn = Connection(HOST, self.port)
            try:
                return (await conn.call(request))[0]
            finally:
                conn.close()

        while time.perf_counter() - started < timeout:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                status = asyncio.run(probe())
            except OSError:
                time.sleep(0.2)
                continue
            if status == 200:
                return time.perf_counter() - started
            raise SystemExit(f"{self.name} answered {status} to the first request:\n{self.tail()}")
        raise SystemExit(f"{self.name} did not answer within {timeout:g}s:\n{self.tail()}")

    def tail(self) -> str:
        self.log_file.flush()
        return self.log_path.read_text(errors="replace")[-3000:]

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log_file.close()


def our_server(url: str, port: int, workers: int, work: Path, log_name: str) -> Server:
    """``bank-scoring serve`` on ``url``: python -m bank_scoring.cli, as the console script runs it."""
    env = {
        **os.environ,
        "BANK_SCORING_SECRET_KEY": secrets.token_urlsafe(48),
        "BANK_SCORING_VAR_DIR": str(work / "var"),
        "BANK_SCORING_MODEL_DIR": str(work / "models"),
    }
    command = [sys.executable, "-m", "bank_scoring.cli", "--db-url", url, "serve"]
    command += ["--host", HOST, "--port", str(port), "--workers", str(workers)]
    return Server("ours (bank-scoring serve)", command, port, work / log_name, env)


def tutorial_server(csv: Path, port: int, work: Path) -> Server:
    command = [sys.executable, str(TUTORIAL_APP), "--csv", str(csv), "--host", HOST, "--port", str(port)]
    return Server("the tutorial's app", command, port, work / "tutorial.log")


# ---------------------------------------------------------------- the databases


def build_predict_db(url: str, csv: Path, model_dir: Path) -> tuple[str, str]:
    """A database with a champion trained from ``csv`` and an agent's API token; (algorithm, token)."""
    from bank_scoring.agents.users import add_user, new_api_token
    from bank_scoring.db import init_db, make_db_engine
    from bank_scoring.ingest import load_csv
    from bank_scoring.training import train_model

    engine = make_db_engine(url)
    try:
        init_db(engine)
        load_csv(engine, csv)
        started = time.perf_counter()
        result = train_model(engine, model_dir)
        seconds = time.perf_counter() - started
        log(f"  trained v{result.model_version} ({result.algorithm}) on {csv.name} in {seconds:.1f}s")
        add_user(engine, "api-bench", "agent")
        return f"v{result.model_version} {result.algorithm}", new_api_token(engine, "api-bench")
    finally:
        engine.dispose()


def build_leads_db(url: str, n: int, seed: int, csv: Path, model_dir: Path, agents: int) -> list[str]:
    """agent_claims' published night of ``n`` customers, calling hours all day, a token per agent."""
    from agent_claims import build_night
    from claims_agents import agent_name
    from sqlalchemy import make_url

    from bank_scoring.agents.users import new_api_token
    from bank_scoring.config import ContactRules
    from bank_scoring.db import init_db, make_db_engine

    build_night(url, n, seed, csv, model_dir, True, agents)
    engine = make_db_engine(url)
    try:
        init_db(engine, ContactRules(window_start_minute=0, window_end_minute=24 * 60))
        try:  # the SQL functions' own time, for the report (a superuser's setting)
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("select pg_stat_reset()")
                conn.exec_driver_sql(f"alter database \"{make_url(url).database}\" set track_functions = 'pl'")
        except Exception as exc:
            log(f"  no function statistics ({type(exc).__name__}: {str(exc).splitlines()[0]})")
        return [new_api_token(engine, agent_name(i)) for i in range(agents)]
    finally:
        engine.dispose()


def function_times(url: str) -> dict[str, tuple[int, float]]:
    """Calls and mean ms of the claim functions, from pg_stat_user_functions (empty when not tracked)."""
    from bank_scoring.db import make_db_engine

    engine = make_db_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "select funcname, calls, total_time from pg_stat_user_functions "
                "where funcname in ('claim_next_lead', 'record_call_outcome') order by funcname"
            ).all()
    finally:
        engine.dispose()
    return {r.funcname: (int(r.calls), float(r.total_time) / max(1, int(r.calls))) for r in rows}
