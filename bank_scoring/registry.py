"""The model registry: artifacts on disk, their sha256 and metadata in ``model_versions``.

A model is loaded only after its file's sha256 matches the registry: unpickling runs
code, so a file that changed since it was registered is never opened.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import joblib
from sqlalchemy import Connection, Engine, text

import bank_scoring
from bank_scoring.db import file_sha256, next_id


class ModelIntegrityError(RuntimeError):
    """The artifact is missing or is not the file that was registered."""


class NoChampionError(RuntimeError):
    """No model has been promoted yet: run ``bank-scoring train`` first."""


@dataclass(frozen=True)
class ModelVersion:
    model_version: int
    algorithm: str
    status: str
    artifact_path: str
    artifact_sha256: str
    roc_auc: float | None
    pr_auc: float | None
    lift_top_decile: float | None
    brier_score: float | None
    training_rows: int
    training_fingerprint: str
    created_at: object
    promoted_at: object


_VERSION_COLUMNS = ", ".join(ModelVersion.__dataclass_fields__)


def library_versions() -> dict[str, str]:
    import numpy
    import pandas
    import sklearn

    return {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
            "pandas": pandas.__version__, "numpy": numpy.__version__, "joblib": joblib.__version__}


def code_version() -> str:
    """The package version plus the git commit when the code runs from a checkout."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=here, capture_output=True,
                               text=True, timeout=5, check=True).stdout.strip()
        return f"{bank_scoring.__version__}+g{commit}{'.dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return bank_scoring.__version__


def model_code_sha256() -> str:
    """sha256 of the code that decides what a model is (features and training).

    Part of the retrain reuse key: a commit that changes only docs or the CLI does not
    make the same rows train a "new" model, while a change to features or training does.
    """
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in ("features.py", "train.py", "validate.py"):
        digest.update((here / name).read_bytes())
    return digest.hexdigest()


def save_artifact(model, metadata: dict, model_dir: Path, version: int) -> tuple[Path, str]:
    """Write the pipeline atomically (temp file, then rename) and its metadata beside it."""
    model_dir.mkdir(parents=True, exist_ok=True)
    path = model_dir / f"model-v{version:04d}.joblib"
    fd, tmp = tempfile.mkstemp(dir=model_dir, suffix=".tmp")
    os.close(fd)
    try:
        joblib.dump(model, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    sha = file_sha256(path)
    meta_path = path.with_suffix(".json")
    meta_path.write_text(json.dumps({**metadata, "artifact_sha256": sha}, indent=2, default=str))
    return path.resolve(), sha


def verify_artifact(version: ModelVersion) -> Path:
    """Check that the artifact is the registered file (sha256), without unpickling it."""
    path = Path(version.artifact_path)
    if not path.is_file():
        raise ModelIntegrityError(f"model v{version.model_version}: artifact {path} is missing")
    actual = file_sha256(path)
    if actual != version.artifact_sha256:
        raise ModelIntegrityError(
            f"model v{version.model_version}: artifact {path} has sha256 {actual[:16]}..., the registry "
            f"recorded {version.artifact_sha256[:16]}...; refusing to load a file that changed"
        )
    return path


def load_model(version: ModelVersion):
    """Load a registered pipeline after checking its sha256 against the registry."""
    return joblib.load(verify_artifact(version))


def _row_to_version(row) -> ModelVersion:
    return ModelVersion(**row._mapping)


def get_version(engine: Engine, version: int) -> ModelVersion:
    with engine.connect() as conn:
        row = conn.execute(text(f"select {_VERSION_COLUMNS} from model_versions where model_version = :v"),
                           {"v": version}).first()
    if row is None:
        raise LookupError(f"model version {version} is not in the registry")
    return _row_to_version(row)


def champion(engine: Engine) -> ModelVersion | None:
    with engine.connect() as conn:
        row = conn.execute(text(f"select {_VERSION_COLUMNS} from model_versions where status = 'champion'")).first()
    return _row_to_version(row) if row else None


def require_champion(engine: Engine) -> ModelVersion:
    found = champion(engine)
    if found is None:
        raise NoChampionError("no champion model yet: train one with `bank-scoring train`")
    return found


def list_versions(engine: Engine) -> list[ModelVersion]:
    with engine.connect() as conn:
        rows = conn.execute(text(f"select {_VERSION_COLUMNS} from model_versions order by model_version")).all()
    return [_row_to_version(r) for r in rows]


def record_event(conn: Connection, version: int, event: str, reason: str, actor: str) -> None:
    conn.execute(text("insert into model_events (model_version, event, reason, actor) "
                      "values (:v, :e, :r, :a)"), {"v": version, "e": event, "r": reason, "a": actor})


def events(engine: Engine, version: int | None = None) -> list[dict]:
    sql = "select model_event_id, model_version, event, reason, actor, created_at from model_events"
    params = {}
    if version is not None:
        sql += " where model_version = :v"
        params["v"] = version
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(sql + " order by model_event_id"), params)]


def promote_in(conn: Connection, version: int, reason: str, actor: str) -> None:
    """Make ``version`` the champion and retire the previous one, in the caller's transaction."""
    current = conn.execute(text("select model_version from model_versions where status = 'champion'")).scalar()
    if current == version:
        return
    if current is not None:
        conn.execute(text("update model_versions set status = 'retired' where model_version = :v"), {"v": current})
        record_event(conn, current, "retired", f"replaced by v{version}", actor)
    updated = conn.execute(text("update model_versions set status = 'champion', promoted_at = current_timestamp "
                                "where model_version = :v"), {"v": version}).rowcount
    if updated != 1:
        raise LookupError(f"model version {version} is not in the registry")
    record_event(conn, version, "promoted", reason, actor)


def promote(engine: Engine, version: int, reason: str, actor: str) -> None:
    with engine.begin() as conn:
        promote_in(conn, version, reason, actor)


def rollback(engine: Engine, reason: str, actor: str) -> int:
    """Make the previous champion the champion again; returns its version.

    The previous champion is the most recently promoted version other than the current one,
    read from the append-only history, so a rollback is itself recorded as a promotion.
    """
    with engine.begin() as conn:
        current = conn.execute(text("select model_version from model_versions where status = 'champion'")).scalar()
        if current is None:
            raise NoChampionError("no champion to roll back from")
        previous = conn.execute(text(
            "select model_version from model_events where event = 'promoted' and model_version <> :c "
            "order by model_event_id desc limit 1"), {"c": current}).scalar()
        if previous is None:
            raise LookupError(f"v{current} is the only model ever promoted: there is nothing to roll back to")
        promote_in(conn, previous, f"rollback from v{current}: {reason}", actor)
    return int(previous)


def allocate_version(conn: Connection) -> int:
    return next_id(conn, "model_versions", "model_version")
