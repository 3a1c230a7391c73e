import joblib
import pytest
from support import load_synthetic

from bank_scoring import registry
from bank_scoring.db import file_sha256
from bank_scoring.model_bundle import ModelBundle
from bank_scoring.training import train_model


@pytest.fixture
def champion(sqlite_engine, model_dir):
    load_synthetic(sqlite_engine)
    train_model(sqlite_engine, model_dir)
    return registry.require_champion(sqlite_engine)


def test_model_loads_when_the_file_is_the_registered_one(champion):
    model = registry.load_model(champion)
    assert isinstance(model, ModelBundle) and hasattr(model.pipeline, "predict_proba")


def test_a_file_from_before_the_bundle_format_is_refused(sqlite_engine, champion):
    """A registered file that unpickles to a bare Pipeline says to retrain."""
    from pathlib import Path

    from sqlalchemy import text

    path = Path(champion.artifact_path)
    joblib.dump(registry.load_model(champion).pipeline.estimator_.base_, path)  # the bare Pipeline of old
    with sqlite_engine.begin() as conn:  # as the registry of that time would have recorded it
        conn.execute(
            text("update model_versions set artifact_sha256 = :s where model_version = :v"),
            {"s": file_sha256(path), "v": champion.model_version},
        )
    with pytest.raises(registry.ModelIntegrityError, match="Pipeline.*predates the bundle format"):
        registry.load_model(registry.require_champion(sqlite_engine))


def test_the_version_row_carries_what_callers_need(sqlite_engine, champion):
    assert champion.metrics["roc_auc"] == champion.roc_auc and "expected_calibration_error" in champion.metrics
    assert champion.report_path is None and champion.features and champion.libraries["scikit-learn"]
    registry.set_report_path(sqlite_engine, champion.model_version, "/somewhere/index.html")
    assert registry.get_version(sqlite_engine, champion.model_version).report_path == "/somewhere/index.html"
    with pytest.raises(LookupError):
        registry.set_report_path(sqlite_engine, 99, "/x")


def test_same_training_is_found_by_rows_and_params(sqlite_engine, champion):
    same = registry.find_same_training(sqlite_engine, champion.training_fingerprint, champion.params)
    assert same == champion
    assert (
        registry.find_same_training(sqlite_engine, champion.training_fingerprint, {**champion.params, "seed": 1})
        is None
    )
    assert registry.find_same_training(sqlite_engine, "0" * 64, champion.params) is None


def test_registration_takes_only_a_bundle_and_reject_is_recorded(sqlite_engine, champion, model_dir):
    new = registry.NewVersion(
        algorithm="x",
        params={},
        features=champion.features,
        training_fingerprint="f",
        training_rows=1,
        training_positives=1,
        holdout_rows=1,
        window_start=None,
        window_end=None,
        metrics={},
    )
    with pytest.raises(TypeError, match="only a ModelBundle"):
        registry.register_version(sqlite_engine, model_dir, registry.load_model(champion).pipeline, new, "r", "a")
    added = registry.register_version(sqlite_engine, model_dir, registry.load_model(champion), new, "copied", "carol")
    assert (added.model_version, added.status, added.roc_auc) == (champion.model_version + 1, "candidate", None)
    registry.reject(sqlite_engine, added.model_version, "not better", "carol")
    assert registry.get_version(sqlite_engine, added.model_version).status == "rejected"
    assert [(e["event"], e["reason"]) for e in registry.events(sqlite_engine, added.model_version)] == [
        ("registered", "copied"),
        ("rejected", "not better"),
    ]
    with pytest.raises(LookupError):
        registry.reject(sqlite_engine, 99, "typo", "carol")


def test_model_code_hash_covers_the_training_package(monkeypatch, tmp_path):
    import shutil
    from pathlib import Path

    here = Path(registry.__file__).resolve().parent
    before = registry.model_code_sha256()
    copy = tmp_path / "bank_scoring"
    shutil.copytree(here / "training", copy / "training", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("features.py", "validate.py", "model_bundle.py"):
        shutil.copy(here / name, copy / name)
    from bank_scoring import provenance

    monkeypatch.setattr(provenance, "__file__", str(copy / "provenance.py"))
    assert registry.model_code_sha256() == before
    (copy / "training" / "gate.py").write_text((here / "training" / "gate.py").read_text() + "\n# changed\n")
    assert registry.model_code_sha256() != before
