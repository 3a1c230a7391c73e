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
SECRET_KEY_ENV = "BANK_SCORING_SECRET_KEY"  # signs the desk's session cookies
DESK_HTTPS_ENV = "BANK_SCORING_DESK_HTTPS"  # 1 behind HTTPS: the session cookie is marked Secure
# The contact policy (bank_scoring/agents/policy.py); init-db writes them to the database.
TIME_ZONE_ENV = "BANK_SCORING_TIME_ZONE"
CALLING_HOURS_ENV = "BANK_SCORING_CALLING_HOURS"
DECLINED_DAYS_ENV = "BANK_SCORING_DECLINED_DAYS"
NO_ANSWER_HOURS_ENV = "BANK_SCORING_NO_ANSWER_HOURS"
MAX_DAY_ATTEMPTS_ENV = "BANK_SCORING_MAX_DAY_ATTEMPTS"
MAX_CAMPAIGN_ATTEMPTS_ENV = "BANK_SCORING_MAX_CAMPAIGN_ATTEMPTS"
CALLBACK_GRACE_ENV = "BANK_SCORING_CALLBACK_GRACE_MINUTES"
LEASE_MINUTES_ENV = "BANK_SCORING_LEASE_MINUTES"
MAX_OPEN_CLAIMS_ENV = "BANK_SCORING_MAX_OPEN_CLAIMS"
# The control group and the exploration slice of each night's pool (bank_scoring/loop/control.py).
CONTROL_SHARE_ENV = "BANK_SCORING_CONTROL_SHARE"
EXPLORATION_SHARE_ENV = "BANK_SCORING_EXPLORATION_SHARE"
DEFAULT_CONTROL_SHARE = 0.05  # of the eligible customers, never handed out
DEFAULT_EXPLORATION_SHARE = 0.02  # of the list above the cut, drawn from below it
RETRAIN_NEW_LABELS_ENV = "BANK_SCORING_RETRAIN_NEW_LABELS"
DEFAULT_RETRAIN_NEW_LABELS = 500  # harvested labels since the last training that trigger a retrain

# Customers read at a time: large enough that per-chunk overhead is small, small enough to
# bound a worker's memory (docs/performance.md).
DEFAULT_CHUNK_ROWS = 100_000
DEFAULT_PARTITIONS = 2
DEFAULT_REASON_ROWS = 5_000  # top customers of each run that get reason codes
DEFAULT_RETRAIN_SCHEDULE = "0 4 * * 0"  # Sundays 04:00 UTC, after the night's scoring
DEFAULT_NIGHTLY_SCHEDULE = "0 2 * * *"


@dataclass(frozen=True)
class ContactRules:
    """The contact policy's numbers; defaults follow common practice for outbound sales.

    Calling hours are a window of local time, ``[window_start, window_end)`` in minutes
    after midnight, in the customer's time zone (the centre's when they have none).
    """

    centre_time_zone: str = "Europe/Lisbon"
    window_start_minute: int = 9 * 60
    window_end_minute: int = 21 * 60
    declined_days: int = 90
    no_answer_hours: float = 4.0
    max_day_attempts: int = 2
    max_campaign_attempts: int = 6
    callback_grace_minutes: int = 30
    lease_minutes: int = 15
    max_open_claims: int = 1

    def __post_init__(self) -> None:
        check_time_zone(self.centre_time_zone, TIME_ZONE_ENV)
        if not 0 <= self.window_start_minute < self.window_end_minute <= 24 * 60:
            raise ValueError(f"{CALLING_HOURS_ENV}: the window must start before it ends, within one day")
        if self.no_answer_hours < 0 or self.declined_days < 0 or self.callback_grace_minutes < 0:
            raise ValueError("contact policy: waiting times cannot be negative")
        for name in ("max_day_attempts", "max_campaign_attempts", "lease_minutes", "max_open_claims"):
            if getattr(self, name) < 1:
                raise ValueError(f"contact policy: {name} must be at least 1")


def check_time_zone(name: str, field: str = "time zone") -> str:
    """``name`` if it is an IANA time zone (Europe/Lisbon, America/New_York), else ValueError."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        if not name or name != name.strip():
            raise ValueError
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"{field}: {name!r} is not a time zone; use an IANA name such as Europe/Lisbon") from None
    return name


def parse_calling_hours(raw: str) -> tuple[int, int]:
    """'09:00-21:00' as minutes after midnight (start, end)."""
    try:
        start, end = (part.strip() for part in raw.split("-"))
        minutes = []
        for part in (start, end):
            hours, mins = part.split(":")
            value = int(hours) * 60 + int(mins)
            if not (0 <= int(mins) < 60 and 0 <= value <= 24 * 60):
                raise ValueError
            minutes.append(value)
    except ValueError:
        raise ValueError(f"{CALLING_HOURS_ENV} must look like 09:00-21:00, got {raw!r}") from None
    return minutes[0], minutes[1]


def _number(name: str, raw: str | None, default, kind=int, minimum=0):
    if raw is None or raw.strip() == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {raw}")
    return value


def contact_rules_from(env: dict[str, str]) -> ContactRules:
    d = ContactRules
    start, end = parse_calling_hours(env.get(CALLING_HOURS_ENV) or "09:00-21:00")
    return ContactRules(
        centre_time_zone=env.get(TIME_ZONE_ENV) or d.centre_time_zone,
        window_start_minute=start,
        window_end_minute=end,
        declined_days=_number(DECLINED_DAYS_ENV, env.get(DECLINED_DAYS_ENV), d.declined_days),
        no_answer_hours=_number(NO_ANSWER_HOURS_ENV, env.get(NO_ANSWER_HOURS_ENV), d.no_answer_hours, float),
        max_day_attempts=_number(MAX_DAY_ATTEMPTS_ENV, env.get(MAX_DAY_ATTEMPTS_ENV), d.max_day_attempts, minimum=1),
        max_campaign_attempts=_number(
            MAX_CAMPAIGN_ATTEMPTS_ENV, env.get(MAX_CAMPAIGN_ATTEMPTS_ENV), d.max_campaign_attempts, minimum=1
        ),
        callback_grace_minutes=_number(CALLBACK_GRACE_ENV, env.get(CALLBACK_GRACE_ENV), d.callback_grace_minutes),
        lease_minutes=_number(LEASE_MINUTES_ENV, env.get(LEASE_MINUTES_ENV), d.lease_minutes, minimum=1),
        max_open_claims=_number(MAX_OPEN_CLAIMS_ENV, env.get(MAX_OPEN_CLAIMS_ENV), d.max_open_claims, minimum=1),
    )


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
    contact_rules: ContactRules = ContactRules()
    control_share: float = DEFAULT_CONTROL_SHARE
    exploration_share: float = DEFAULT_EXPLORATION_SHARE
    retrain_new_labels: int = DEFAULT_RETRAIN_NEW_LABELS


def _share(name: str, raw: str | None, default: float) -> float:
    """A share in [0, 0.5]: more than half the customers kept back or explored is a mistake."""
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number between 0 and 0.5, got {raw!r}") from None
    if not 0 <= value <= 0.5:
        raise ValueError(f"{name} must be between 0 and 0.5, got {raw}")
    return value


def selection_shares(environ: dict[str, str] | None = None) -> tuple[float, float]:
    """(control share, exploration share) from $BANK_SCORING_CONTROL_SHARE and $BANK_SCORING_EXPLORATION_SHARE."""
    env = os.environ if environ is None else environ
    return (
        _share(CONTROL_SHARE_ENV, env.get(CONTROL_SHARE_ENV), DEFAULT_CONTROL_SHARE),
        _share(EXPLORATION_SHARE_ENV, env.get(EXPLORATION_SHARE_ENV), DEFAULT_EXPLORATION_SHARE),
    )


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
        retrain_new_labels=_positive_int(
            RETRAIN_NEW_LABELS_ENV, env.get(RETRAIN_NEW_LABELS_ENV), DEFAULT_RETRAIN_NEW_LABELS
        ),
        retry_delay_seconds=_positive_int(RETRY_DELAY_ENV, env.get(RETRY_DELAY_ENV), 120),
        contact_rules=contact_rules_from(env),
        control_share=selection_shares(env)[0],
        exploration_share=selection_shares(env)[1],
    )


def desk_secret_key(settings: Settings, environ: dict[str, str] | None = None) -> str:
    """The desk's cookie-signing key: $BANK_SCORING_SECRET_KEY, else one kept in var/desk-secret.key.

    The file is made on first use (readable by its owner only), so sessions survive a
    restart; with several desk processes or hosts, set the variable to one shared value.
    """
    import secrets

    env = os.environ if environ is None else environ
    if env.get(SECRET_KEY_ENV):
        key = env[SECRET_KEY_ENV]
        if len(key) < 32:
            raise ValueError(f"{SECRET_KEY_ENV} needs at least 32 characters")
        return key
    path = settings.var_dir / "desk-secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def desk_https(environ: dict[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return (env.get(DESK_HTTPS_ENV) or "").strip().lower() in ("1", "true", "yes")


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
