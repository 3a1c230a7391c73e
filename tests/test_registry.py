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
