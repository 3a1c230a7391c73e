import joblib
import pytest
from support import load_synthetic

from bank_scoring import registry
from bank_scoring.train import train_model


@pytest.fixture
def champion(sqlite_engine, model_dir):
    load_synthetic(sqlite_engine)
    train_model(sqlite_engine, model_dir)
    return registry.require_champion(sqlite_engine)


def test_model_loads_when_the_file_is_the_registered_one(champion):
    model = registry.load_model(champion)
    assert hasattr(model, "predict_proba")


@pytest.mark.parametrize("damage", ["missing", "truncated", "modified"])
def test_changed_artifact_is_refused_without_unpickling(champion, monkeypatch, damage):
    from pathlib import Path

    path = Path(champion.artifact_path)
    if damage == "missing":
        path.unlink()
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    else:
        path.write_bytes(path.read_bytes() + b"\x00")

    def never(*_a, **_k):
        raise AssertionError("joblib.load was called on an unverified file")

    monkeypatch.setattr(joblib, "load", never)
    with pytest.raises(registry.ModelIntegrityError, match="missing" if damage == "missing" else "sha256"):
        registry.load_model(champion)


def test_metadata_is_saved_beside_the_artifact(champion):
    import json
    from pathlib import Path

    meta = json.loads(Path(champion.artifact_path).with_suffix(".json").read_text())
    assert meta["artifact_sha256"] == champion.artifact_sha256
    assert meta["training_fingerprint"] == champion.training_fingerprint
    assert "duration_seconds" not in meta["features"]
    assert set(meta["libraries"]) >= {"scikit-learn", "pandas", "numpy", "python"}


def test_promote_by_hand_is_recorded(sqlite_engine, champion, model_dir):
    other = train_model(sqlite_engine, model_dir, estimator="logistic_regression", promote="never")
    registry.promote(sqlite_engine, other.model_version, "manager asked", "alice")
    assert registry.require_champion(sqlite_engine).model_version == other.model_version
    assert registry.get_version(sqlite_engine, champion.model_version).status == "retired"
    last = registry.events(sqlite_engine)[-1]
    assert (last["event"], last["actor"], last["reason"]) == ("promoted", "alice", "manager asked")
    with pytest.raises(LookupError):
        registry.promote(sqlite_engine, 99, "typo", "alice")


def test_rollback_restores_the_previous_champion_and_is_recorded(sqlite_engine, champion, model_dir):
    with pytest.raises(LookupError, match="nothing to roll back to"):
        registry.rollback(sqlite_engine, "oops", "bob")
    other = train_model(sqlite_engine, model_dir, estimator="logistic_regression", promote="always")
    assert registry.require_champion(sqlite_engine).model_version == other.model_version
    back = registry.rollback(sqlite_engine, "conversion fell", "bob")
    assert back == champion.model_version == registry.require_champion(sqlite_engine).model_version
    assert registry.get_version(sqlite_engine, other.model_version).status == "retired"
    last = registry.events(sqlite_engine)[-1]
    assert (last["event"], last["actor"]) == ("promoted", "bob")
    assert last["reason"] == f"rollback from v{other.model_version}: conversion fell"
    # rolling back again returns to the model rolled back from
    assert registry.rollback(sqlite_engine, "false alarm", "bob") == other.model_version


def test_same_rows_and_seed_give_the_same_metrics_in_a_fresh_database(tmp_path):
    """Reproducibility: a second database with the same rows trains to identical figures."""
    from bank_scoring.db import init_db, make_db_engine

    results = []
    for name in ("a", "b"):
        engine = make_db_engine(f"sqlite:///{tmp_path / name}.db")
        init_db(engine)
        load_synthetic(engine)
        results.append(train_model(engine, tmp_path / f"models-{name}"))
        engine.dispose()
    first, second = results
    keep = ("roc_auc", "pr_auc", "lift_top_decile", "brier_score", "expected_calibration_error")
    assert {k: first.metrics[k] for k in keep} == {k: second.metrics[k] for k in keep}
