"""The one place that reads the environment.

Everything else in the package takes an engine, a path, a date or a version as an
argument, so that a test, the CLI and an Airflow task can make the same call.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DB_URL_ENV = "BANK_SCORING_DB_URL"
MODEL_DIR_ENV = "BANK_SCORING_MODEL_DIR"
VAR_DIR_ENV = "BANK_SCORING_VAR_DIR"
BANK_CSV_ENV = "BANK_CSV"
PARTITIONS_ENV = "BANK_SCORING_PARTITIONS"
CHUNK_ROWS_ENV = "BANK_SCORING_CHUNK_ROWS"
REASON_ROWS_ENV = "BANK_SCORING_REASON_ROWS"
RETRAIN_SCHEDULE_ENV = "BANK_SCORING_RETRAIN_SCHEDULE"
NIGHTLY_SCHEDULE_ENV = "BANK_SCORING_NIGHTLY_SCHEDULE"
RETRY_DELAY_ENV = "BANK_SCORING_RETRY_DELAY_SECONDS"
AIRFLOW_CONN_ID = "bank_scoring_db"

# Customers read at a time: large enough that per-chunk overhead is small, small enough to
# bound a worker's memory (docs/performance.md).
DEFAULT_CHUNK_ROWS = 100_000
DEFAULT_PARTITIONS = 2
DEFAULT_REASON_ROWS = 5_000  # top customers of each run that get reason codes
DEFAULT_RETRAIN_SCHEDULE = "0 4 * * 0"  # Sundays 04:00 UTC, after the night's scoring
DEFAULT_NIGHTLY_SCHEDULE = "0 2 * * *"


@dataclass(frozen=True)
class Settings:
    """Resolved configuration; build it with :func:`load_settings`."""

    db_url: str
    model_dir: Path
    var_dir: Path
    bank_csv: Path | None
    partitions: int
    chunk_rows: int
    reason_rows: int
    retrain_schedule: str
    nightly_schedule: str
    retry_delay_seconds: int


def _positive_int(name: str, raw: str | None, default: int) -> int:
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return value


def load_settings(environ: dict[str, str] | None = None, cwd: Path | None = None) -> Settings:
    """Read settings from the environment, with defaults under ``var/`` in the working folder."""
    env = os.environ if environ is None else environ
    base = Path.cwd() if cwd is None else cwd
    var_dir = Path(env.get(VAR_DIR_ENV) or base / "var")
    db_url = env.get(DB_URL_ENV) or f"sqlite:///{(var_dir / 'bank_scoring.db').resolve()}"
    model_dir = Path(env.get(MODEL_DIR_ENV) or var_dir / "models")
    bank_csv = env.get(BANK_CSV_ENV)
    return Settings(
        db_url=db_url,
        model_dir=model_dir,
        var_dir=var_dir,
        bank_csv=Path(bank_csv) if bank_csv else None,
        partitions=_positive_int(PARTITIONS_ENV, env.get(PARTITIONS_ENV), DEFAULT_PARTITIONS),
        chunk_rows=_positive_int(CHUNK_ROWS_ENV, env.get(CHUNK_ROWS_ENV), DEFAULT_CHUNK_ROWS),
        reason_rows=_positive_int(REASON_ROWS_ENV, env.get(REASON_ROWS_ENV), DEFAULT_REASON_ROWS),
        retrain_schedule=env.get(RETRAIN_SCHEDULE_ENV) or DEFAULT_RETRAIN_SCHEDULE,
        nightly_schedule=env.get(NIGHTLY_SCHEDULE_ENV) or DEFAULT_NIGHTLY_SCHEDULE,
        retry_delay_seconds=_positive_int(RETRY_DELAY_ENV, env.get(RETRY_DELAY_ENV), 120),
    )


def db_url_from_airflow_connection(
    conn_type: str | None,
    host: str | None,
    login: str | None,
    password: str | None,
    schema: str | None,
    port: int | None,
    extra: dict | None,
) -> str:
    """Turn the fields of the Airflow connection ``bank_scoring_db`` into a SQLAlchemy URL.

    The package never imports Airflow: the DAG passes the connection's fields in.
    ``extra.sqlalchemy_url`` wins when set, for drivers this function does not know.
    """
    from sqlalchemy.engine import URL

    extra = extra or {}
    if extra.get("sqlalchemy_url"):
        return str(extra["sqlalchemy_url"])
    kind = (conn_type or "").lower()
    if kind in {"postgres", "postgresql"}:
        url = URL.create(
            "postgresql+psycopg",
            username=login or None,
            password=password or None,
            host=host or None,
            port=port or None,
            database=schema or None,
        )
        return url.render_as_string(hide_password=False)
    if kind == "sqlite":
        if not host:
            raise ValueError("Airflow connection bank_scoring_db (sqlite) needs the database file path as host")
        return f"sqlite:///{host}"
    raise ValueError(
        f"Airflow connection bank_scoring_db has type {conn_type!r}; use 'postgres' or 'sqlite', "
        "or set extra.sqlalchemy_url"
    )
