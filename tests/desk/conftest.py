"""The desk on a copy of a published night, with a clock the test sets.

- ``desk_engine``: a SQLite copy of the night (tests/conftest.py's ``night_sqlite_template``)
  where ana, ben (agents) and tess (team lead) have the passwords of ``PASSWORDS``
- ``clock``: what the app reads as "now" (naive UTC; Lisbon's time too in November);
  ``clock.set(at(10, day=...))`` moves it
- ``desk_app``: ``create_app`` on that database and clock
- ``live_desk``: the app served for real over HTTP by uvicorn in a thread, on a free port
  of 127.0.0.1; its ``url`` is the base URL
- ``screenshots``: the folder where CI keeps the pages' screenshots
  (``$BANK_SCORING_ARTIFACTS/screenshots``, else ``artifacts/screenshots`` in the project)
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import DAY, at, copy_template

from bank_scoring.agents.users import add_user
from bank_scoring.db import make_db_engine

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "desk-tests-secret-key-" + "k" * 32
ROLES = {"ana": "agent", "ben": "agent", "tess": "team_lead"}
PASSWORDS = {name: f"{name}-s3cret-pass" for name in ROLES}
TOMORROW = DAY + dt.timedelta(days=1)

__all__ = ["DAY", "PASSWORDS", "TOMORROW", "at", "csrf_of", "log_in"]


class Clock:
    """The app's clock: a test moves it with ``set``."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def set(self, now: dt.datetime) -> None:
        self.now = now


def give_passwords(engine) -> None:
    for name, role in ROLES.items():
        add_user(engine, name, role, password=PASSWORDS[name])


@pytest.fixture
def clock() -> Clock:
    return Clock(at(10))


@pytest.fixture
def desk_engine(night_sqlite_template, tmp_path, model_dir):
    engine = make_db_engine(copy_template(night_sqlite_template, model_dir, tmp_path / "bank.db"))
    give_passwords(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def desk_app(desk_engine, clock):
    from bank_scoring.desk.app import create_app

    return create_app(desk_engine, SECRET_KEY, clock=clock)


@dataclass(frozen=True)
class LiveDesk:
    url: str
    app: object
    clock: Clock
    engine: object


@pytest.fixture
def live_desk(desk_app, desk_engine, clock):
    """The desk served over HTTP (uvicorn in a background thread) until the test ends."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # a free port, held from here on: no race with another process
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        desk_app, log_config=None, access_log=False, lifespan="off", ws="none", timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="desk-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped before it served"
        assert time.monotonic() < deadline, "uvicorn did not start within 30 s"
        time.sleep(0.02)
    try:
        yield LiveDesk(f"http://127.0.0.1:{port}", desk_app, clock, desk_engine)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"


@pytest.fixture(scope="session")
def screenshots() -> Path:
    base = os.environ.get("BANK_SCORING_ARTIFACTS")
    folder = (Path(base) if base else ROOT / "artifacts") / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# --- For TestClient and httpx tests: a session as a browser gets one. ---


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def log_in(client, name: str, password: str | None = None):
    """Log ``client`` in as ``name`` through the login form; returns the session's CSRF token."""
    token = csrf_of(client.get("/login").text)
    answer = client.post(
        "/login",
        data={"username": name, "password": password or PASSWORDS[name], "csrf": token},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text[:300]
    return csrf_of(client.get("/predict").text)
