"""The model registry: artifacts on disk, their sha256 and metadata in ``model_versions``.

Every write to ``model_versions`` and ``model_events`` goes through this module. A model
is loaded only after its file's sha256 matches the registry: unpickling runs code, so a
file that changed since it was registered is never opened.

Functions that write take a Connection (the caller's transaction, so a registration and
its promotion commit together) or an Engine (a transaction of their own).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import joblib
from sqlalchemy import Connection, Engine, text

from bank_scoring.db import as_date, file_sha256, next_id
from bank_scoring.provenance import code_version, library_versions, model_code_sha256

__all__ = ["code_version", "library_versions", "model_code_sha256"]  # re-exported: part of a version's record


class ModelIntegrityError(RuntimeError):
    """The artifact is missing, is not the file that was registered, or is not a model bundle."""


class NoChampionError(RuntimeError):
    """No model has been promoted yet: run ``bank-scoring train`` first."""


@dataclass(frozen=True)
class ModelVersion:
    """One row of ``model_versions``, its JSON columns parsed."""

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
    training_positives: int
    holdout_rows: int
    training_fingerprint: str
    window_start: dt.date | None
    window_end: dt.date | None
    created_at: object
    promoted_at: object
    report_path: str | None
    code_version: str
    metrics: dict
    params: dict
    features: tuple[str, ...]
    libraries: dict


@dataclass(frozen=True)
class NewVersion:
    """What training knows about a model it registers."""

    algorithm: str
    params: dict
    features: tuple[str, ...]
    training_fingerprint: str
    training_rows: int
    training_positives: int
    holdout_rows: int
    window_start: dt.date | None
    window_end: dt.date | None
    metrics: dict
    # The champion's figures on the same held-out calls (kept in the metadata file).
    champion_metrics: dict | None = None


_VERSION_COLUMNS = (
    "model_version, algorithm, status, artifact_path, artifact_sha256, roc_auc, pr_auc, lift_top_decile, "
    "brier_score, training_rows, training_positives, holdout_rows, training_fingerprint, window_start, window_end, "
    "created_at, promoted_at, report_path, code_version, metrics_json, params_json, feature_columns_json, "
    "library_versions_json"
)
# Files whose content decides what a model is (see model_code_sha256).


@contextmanager
def _transaction(target: Connection | Engine) -> Iterator[Connection]:
    """The caller's transaction for a Connection, a new one for an Engine."""
    if isinstance(target, Engine):
        with target.begin() as conn:
            yield conn
    else:
        yield target


@contextmanager
def _reader(target: Connection | Engine) -> Iterator[Connection]:
    if isinstance(target, Engine):
        with target.connect() as conn:
            yield conn
    else:
        yield target


def _save_artifact(model, metadata: dict, model_dir: Path, version: int) -> tuple[Path, str]:
    """Write the model atomically (temp file, then rename) and its metadata beside it."""
    model_dir = Path(model_dir)
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


def register_version(
    target: Connection | Engine, model_dir: Path, bundle, new: NewVersion, reason: str, actor: str
) -> ModelVersion:
    """Save a model bundle as the next version, add its row (a candidate) and a 'registered' event."""
    from bank_scoring.model_bundle import ModelBundle

    if not isinstance(bundle, ModelBundle):
        raise TypeError(f"only a ModelBundle is registered, not a {type(bundle).__name__}")
    libraries, code = library_versions(), code_version()
    with _transaction(target) as conn:
        version = next_id(conn, "model_versions", "model_version")
        metadata = {
            "model_version": version,
            "algorithm": new.algorithm,
            "params": new.params,
            "features": list(new.features),
            "training_fingerprint": new.training_fingerprint,
            "training_rows": new.training_rows,
            "training_positives": new.training_positives,
            "window_start": new.window_start,
            "window_end": new.window_end,
            "metrics": new.metrics,
            "champion_metrics_on_same_holdout": new.champion_metrics,
            "libraries": libraries,
            "code_version": code,
        }
        path, sha = _save_artifact(bundle, metadata, model_dir, version)
        metrics = new.metrics
        conn.execute(
            text(
                "insert into model_versions (model_version, algorithm, params_json, feature_columns_json, "
                "training_fingerprint, training_rows, training_positives, holdout_rows, window_start, window_end, "
                "roc_auc, pr_auc, lift_top_decile, brier_score, metrics_json, library_versions_json, code_version, "
                "artifact_path, artifact_sha256, status) values (:v, :alg, :params, :features, :fp, :rows, :pos, "
                ":holdout, :ws, :we, :auc, :prauc, :lift, :brier, :metrics, :libs, :code, :path, :sha, 'candidate')"
            ),
            {
                "v": version,
                "alg": new.algorithm,
                "params": _params_json(new.params),
                "features": json.dumps(list(new.features)),
                "fp": new.training_fingerprint,
                "rows": new.training_rows,
                "pos": new.training_positives,
                "holdout": new.holdout_rows,
                "ws": new.window_start,
                "we": new.window_end,
                "auc": metrics.get("roc_auc"),
                "prauc": metrics.get("pr_auc"),
                "lift": metrics.get("lift_top_decile"),
                "brier": metrics.get("brier_score"),
                "metrics": json.dumps(metrics),
                "libs": json.dumps(libraries),
                "code": code,
                "path": str(path),
                "sha": sha,
            },
        )
        record_event(conn, version, "registered", reason, actor)
        return _fetch(conn, version)


def _params_json(params: dict) -> str:
    """Parameters as stored: sorted keys, so equal parameters compare equal as text."""
    return json.dumps(params, sort_keys=True)


def find_same_training(target: Connection | Engine, training_fingerprint: str, params: dict) -> ModelVersion | None:
    """The latest version trained on the same rows with the same parameters, if any."""
    with _reader(target) as conn:
        row = conn.execute(
            text(
                f"select {_VERSION_COLUMNS} from model_versions where training_fingerprint = :fp "
                "and params_json = :p order by model_version desc"
            ),
            {"fp": training_fingerprint, "p": _params_json(params)},
        ).first()
    return _row_to_version(row) if row else None


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
    """The registered ModelBundle, loaded after its sha256 matched the registry."""
    from bank_scoring.model_bundle import ModelBundle

    path = verify_artifact(version)
    try:
        bundle = joblib.load(path)
    except (AttributeError, ImportError) as exc:  # a class this code no longer has
        raise ModelIntegrityError(
            f"model v{version.model_version}: {path} cannot be loaded by this code ({exc}); "
            "retrain: this model file predates the bundle format"
        ) from None
    if not isinstance(bundle, ModelBundle):
        raise ModelIntegrityError(
            f"model v{version.model_version}: {path} holds a {type(bundle).__name__}, not a "
            "ModelBundle; retrain: this model file predates the bundle format"
        )
    return bundle


def _row_to_version(row) -> ModelVersion:
    values = dict(row._mapping)
    return ModelVersion(
        metrics=json.loads(values.pop("metrics_json") or "{}"),
        params=json.loads(values.pop("params_json") or "{}"),
        features=tuple(json.loads(values.pop("feature_columns_json") or "[]")),
        libraries=json.loads(values.pop("library_versions_json") or "{}"),
        window_start=as_date(values.pop("window_start")),
        window_end=as_date(values.pop("window_end")),
        **values,
    )


def _fetch(conn: Connection, version: int) -> ModelVersion:
    row = conn.execute(
        text(f"select {_VERSION_COLUMNS} from model_versions where model_version = :v"), {"v": version}
    ).first()
    if row is None:
        raise LookupError(f"model version {version} is not in the registry")
    return _row_to_version(row)


def get_version(target: Connection | Engine, version: int) -> ModelVersion:
    with _reader(target) as conn:
        return _fetch(conn, version)


def champion(target: Connection | Engine) -> ModelVersion | None:
    with _reader(target) as conn:
        row = conn.execute(text(f"select {_VERSION_COLUMNS} from model_versions where status = 'champion'")).first()
    return _row_to_version(row) if row else None


def require_champion(target: Connection | Engine) -> ModelVersion:
    found = champion(target)
    if found is None:
        raise NoChampionError("no champion model yet: train one with `bank-scoring train`")
    return found


def list_versions(target: Connection | Engine) -> list[ModelVersion]:
    with _reader(target) as conn:
        rows = conn.execute(text(f"select {_VERSION_COLUMNS} from model_versions order by model_version")).all()
    return [_row_to_version(r) for r in rows]


def record_event(conn: Connection, version: int, event: str, reason: str, actor: str) -> None:
    conn.execute(
        text("insert into model_events (model_version, event, reason, actor) values (:v, :e, :r, :a)"),
        {"v": version, "e": event, "r": reason, "a": actor},
    )


def events(target: Connection | Engine, version: int | None = None) -> list[dict]:
    sql = "select model_event_id, model_version, event, reason, actor, created_at from model_events"
    params = {}
    if version is not None:
        sql += " where model_version = :v"
        params["v"] = version
    with _reader(target) as conn:
        return [dict(r._mapping) for r in conn.execute(text(sql + " order by model_event_id"), params)]


def _set_status(conn: Connection, version: int, status: str) -> None:
    updated = conn.execute(
        text("update model_versions set status = :s where model_version = :v"), {"s": status, "v": version}
    ).rowcount
    if updated != 1:
        raise LookupError(f"model version {version} is not in the registry")


def promote_in(conn: Connection, version: int, reason: str, actor: str) -> None:
    """Make ``version`` the champion and retire the previous one, in the caller's transaction."""
    current = conn.execute(text("select model_version from model_versions where status = 'champion'")).scalar()
    if current == version:
        return
    if current is not None:
        _set_status(conn, current, "retired")
        record_event(conn, current, "retired", f"replaced by v{version}", actor)
    updated = conn.execute(
        text("update model_versions set status = 'champion', promoted_at = current_timestamp where model_version = :v"),
        {"v": version},
    ).rowcount
    if updated != 1:
        raise LookupError(f"model version {version} is not in the registry")
    record_event(conn, version, "promoted", reason, actor)


def promote(target: Connection | Engine, version: int, reason: str, actor: str) -> None:
    with _transaction(target) as conn:
        promote_in(conn, version, reason, actor)


def reject(target: Connection | Engine, version: int, reason: str, actor: str) -> None:
    """Mark a version rejected (it did not pass the gate), with the reason in its history."""
    with _transaction(target) as conn:
        _set_status(conn, version, "rejected")
        record_event(conn, version, "rejected", reason, actor)


def set_report_path(target: Connection | Engine, version: int, path: str | Path) -> None:
    """Link a version to its HTML report."""
    with _transaction(target) as conn:
        updated = conn.execute(
            text("update model_versions set report_path = :p where model_version = :v"), {"p": str(path), "v": version}
        ).rowcount
        if updated != 1:
            raise LookupError(f"model version {version} is not in the registry")


def rollback(target: Connection | Engine, reason: str, actor: str) -> int:
    """Make the previous champion the champion again; returns its version.

    The previous champion is the most recently promoted version other than the current one,
    read from the append-only history, so a rollback is itself recorded as a promotion.
    """
    with _transaction(target) as conn:
        current = conn.execute(text("select model_version from model_versions where status = 'champion'")).scalar()
        if current is None:
            raise NoChampionError("no champion to roll back from")
        previous = conn.execute(
            text(
                "select model_version from model_events where event = 'promoted' and model_version <> :c "
                "order by model_event_id desc limit 1"
            ),
            {"c": current},
        ).scalar()
        if previous is None:
            raise LookupError(f"v{current} is the only model ever promoted: there is nothing to roll back to")
        promote_in(conn, previous, f"rollback from v{current}: {reason}", actor)
    return int(previous)
