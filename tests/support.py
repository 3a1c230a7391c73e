"""Helpers tests and conftests import by name (conftest.py is not importable reliably).

Besides data loading and ``require``, the database templates: a database prepared once per
session (schema, data, a champion...) and copied for each test, with its model folder, so
every test owns what it changes.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from bank_scoring.db import make_db_engine
from bank_scoring.generate import generate_calls, synthetic_fingerprint
from bank_scoring.ingest import load_frame


def load_synthetic(engine, customers: int = 3000, seed: int = 7):
    return load_frame(
        engine, generate_calls(customers, seed=seed), f"synthetic-{seed}", synthetic_fingerprint(customers, seed)
    )


IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(condition: bool, reason: str) -> None:
    """Skip the test when ``condition`` is false; under CI=true, fail it instead."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{reason} (mandatory under CI=true)")
    pytest.skip(reason)


# --- Templates: prepared once, copied per test. ---


@dataclass(frozen=True)
class Template:
    """A prepared database and the model folder its registry points at."""

    url: str
    model_dir: Path
    admin_url: str | None = None  # PostgreSQL: the server's admin URL, for copies

    @property
    def pg_name(self) -> str:
        return self.url.rsplit("/", 1)[1]

    @property
    def sqlite_path(self) -> Path:
        return Path(self.url.removeprefix("sqlite:///"))


def create_pg_database(admin_url: str, template: str | None = None) -> str:
    """Create a database (a copy of database ``template`` when given) and return its URL."""
    name = f"bank_scoring_test_{uuid.uuid4().hex[:10]}"
    admin = make_db_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'create database "{name}"' + (f' template "{template}"' if template else "")))
    finally:
        admin.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def drop_pg_database(admin_url: str, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = make_db_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("select pg_terminate_backend(pid) from pg_stat_activity where datname = :n"), {"n": name})
            conn.execute(text(f'drop database if exists "{name}"'))
    finally:
        admin.dispose()


def copy_models(url: str, template_dir: Path, model_dir: Path) -> None:
    """Copy a template's model folder to ``model_dir`` and point the database at the copy.

    Every ``*_path`` column of ``model_versions`` is rewritten, so a copy never reads (or
    damages) the template's files.
    """
    shutil.copytree(template_dir, model_dir, dirs_exist_ok=True)
    engine = make_db_engine(url)
    try:
        columns = [c["name"] for c in inspect(engine).get_columns("model_versions") if c["name"].endswith("_path")]
        with engine.begin() as conn:
            for col in columns:
                conn.execute(
                    text(f"update model_versions set {col} = replace({col}, :old, :new)"),
                    {"old": str(template_dir), "new": str(model_dir)},
                )
                left = conn.execute(
                    text(f"select count(*) from model_versions where {col} like :old"), {"old": f"%{template_dir}%"}
                ).scalar()
                assert left == 0, f"model_versions.{col} still names the template's folder"
    finally:
        engine.dispose()


def copy_template(template: Template, model_dir: Path, sqlite_path: Path | None = None) -> str:
    """A copy of ``template`` with its models in ``model_dir``; returns the copy's URL.

    SQLite copies go to ``sqlite_path``; PostgreSQL copies are new databases made with
    ``create database ... template`` (the caller drops them with ``drop_pg_database``).
    """
    if template.admin_url:
        url = create_pg_database(template.admin_url, template=template.pg_name)
    else:
        assert sqlite_path is not None, "a SQLite copy needs a path"
        sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        # The backup API copies a consistent database whatever state its WAL is in.
        src, dst = sqlite3.connect(template.sqlite_path), sqlite3.connect(sqlite_path)
        try:
            src.backup(dst)
        finally:
            src.close()
            dst.close()
        url = f"sqlite:///{sqlite_path}"
    try:
        copy_models(url, template.model_dir, model_dir)
    except BaseException:
        if template.admin_url:
            drop_pg_database(template.admin_url, url)
        raise
    return url


# --- A published night: the agents' side and the desk start from one. ---

DAY = dt.date(2026, 11, 28)


def at(hour: int, minute: int = 0, day: dt.date = DAY) -> dt.datetime:
    """A clock reading on ``day`` (DAY by default), naive UTC: Lisbon's time too in November."""
    return dt.datetime.combine(day, dt.time(hour, minute))


def publish_night(url: str) -> None:
    """Score the trained database at ``url`` for DAY and add agents ana and ben, team lead tess."""
    from bank_scoring.agents.users import add_user
    from bank_scoring.scoring import score_customers

    engine = make_db_engine(url)
    try:
        score_customers(engine, DAY)
        add_user(engine, "ana", "agent")
        add_user(engine, "ben", "agent")
        add_user(engine, "tess", "team_lead")
    finally:
        engine.dispose()


def night_ranks(engine, day: dt.date, control: bool = False) -> list[int]:
    """The ranks of ``day``'s scores, in order: of its control group (``control``), or of
    everybody else (the ranks the worklist may show)."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "select s.rank from customer_scores s where s.score_date = :d and "
                    f"{'' if control else 'not '}exists (select 1 from lead_assignments la "
                    "where la.run_id = s.run_id and la.customer_id = s.customer_id and la.role = 'control') "
                    "order by s.rank"
                ),
                {"d": day},
            ).scalars()
        )
