import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import text

from bank_scoring import registry
from bank_scoring.db import file_sha256
from bank_scoring.ingest import load_csv
from bank_scoring.model_bundle import ModelBundle
from bank_scoring.training import build_pipeline, check_training_window, train_model
from bank_scoring.validate import TrainingDataError


def test_first_model_becomes_champion_with_metrics(loaded_engine, model_dir):
    result = train_model(loaded_engine, model_dir)
    assert result.status == "champion" and not result.reused
    assert 0.6 < result.metrics["roc_auc"] <= 1.0
    assert result.metrics["lift_top_decile"] > 1.5
    version = registry.require_champion(loaded_engine)
    assert version.model_version == result.model_version
    assert version.artifact_sha256 == file_sha256(Path(version.artifact_path))
    assert [e["event"] for e in registry.events(loaded_engine)] == ["registered", "promoted"]
    assert version.metrics == result.metrics and version.params["estimator"] == "ranking_blend"
    assert version.report_path is None  # the report is its own step (report.write_report)
    bundle = registry.load_model(version)
    assert isinstance(bundle, ModelBundle) and bundle.features == version.features
    assert not hasattr(bundle.pipeline, "reference_values_")  # what the night needs is on the bundle
    assert len(bundle.reference_sample) == min(5_000, version.training_rows - version.holdout_rows)


def test_same_rows_same_seed_reuses_the_version(loaded_engine, model_dir):
    first = train_model(loaded_engine, model_dir)
    again = train_model(loaded_engine, model_dir)
    assert again.reused and again.model_version == first.model_version
    assert again.metrics == first.metrics and again.status == "champion"
    assert len(registry.list_versions(loaded_engine)) == 1


def test_a_worse_model_is_rejected_and_the_champion_stays(trained_sqlite_engine, model_dir):
    """The registry's writes are checked on both databases in test_registry.py; here the decisions."""
    loaded_engine = trained_sqlite_engine
    first = registry.require_champion(loaded_engine)  # the session's default model
    # Compared on the same held-out calls, whatever the outcome the registry stays consistent.
    worse = train_model(loaded_engine, model_dir, estimator="logistic_regression", promote="if_better")
    champion = registry.require_champion(loaded_engine)
    if worse.status == "rejected":
        assert champion.model_version == first.model_version
        assert "on the same held-out calls" in worse.decision
    else:  # it really was better by the margin: then it must be the champion
        assert champion.model_version == worse.model_version
    forced = train_model(loaded_engine, model_dir, estimator="random_forest", promote="always")
    assert registry.require_champion(loaded_engine).model_version == forced.model_version
    statuses = {v.model_version: v.status for v in registry.list_versions(loaded_engine)}
    assert list(statuses.values()).count("champion") == 1


def test_too_few_positives_fails_clearly_and_keeps_the_champion(loaded_engine, model_dir):
    champion = train_model(loaded_engine, model_dir).model_version
    with loaded_engine.begin() as conn:
        conn.execute(text("update campaign_contacts set is_subscribed = false where contact_id > 20"))
    with pytest.raises(TrainingDataError, match="subscribed calls"):
        train_model(loaded_engine, model_dir)
    assert registry.require_champion(loaded_engine).model_version == champion


def test_training_window_filters_by_call_date(loaded_engine):
    everything = check_training_window(loaded_engine)
    early = check_training_window(loaded_engine, "2008-01-01", "2009-06-30")
    assert 0 < early["rows"] < everything["rows"] == 3000
    with pytest.raises(ValueError, match="starts 2010-01-01 after it ends 2009-01-01"):
        check_training_window(loaded_engine, "2010-01-01", "2009-01-01")
    with pytest.raises(ValueError, match="window_start must be a date"):
        check_training_window(loaded_engine, "yesterday")
    with pytest.raises(TrainingDataError, match="between 2001-01-01 and 2001-12-31"):
        check_training_window(loaded_engine, dt.date(2001, 1, 1), dt.date(2001, 12, 31))


def test_unknown_estimator_is_refused():
    with pytest.raises(ValueError, match="choose one of"):
        build_pipeline("xgboost")


@pytest.mark.slow
def test_real_data_default_beats_the_tutorial_forest(sqlite_engine, bank_full_csv, model_dir):
    load_csv(sqlite_engine, bank_full_csv)
    ours = train_model(sqlite_engine, model_dir)
    tutorial = train_model(sqlite_engine, model_dir, estimator="random_forest")
    assert ours.training_rows == 45_211
    assert ours.metrics["roc_auc"] > 0.78
    assert ours.metrics["roc_auc"] > tutorial.metrics["roc_auc"]
    assert tutorial.status == "rejected"


def test_window_is_taken_as_iso_strings_and_recorded(loaded_engine, model_dir):
    result = train_model(loaded_engine, model_dir, window_start="2008-01-01", window_end="2009-06-30")
    version = registry.get_version(loaded_engine, result.model_version)
    assert (version.window_start, version.window_end) == (dt.date(2008, 1, 1), dt.date(2009, 6, 30))
    assert version.training_rows == check_training_window(loaded_engine, "2008-01-01", "2009-06-30")["rows"]
    with pytest.raises(ValueError, match="starts 2010-01-01 after it ends 2009-01-01"):
        train_model(loaded_engine, model_dir, window_start="2010-01-01", window_end=dt.date(2009, 1, 1))


def test_training_code_holds_no_sql_against_the_registry_tables():
    """The registry owns every write to model_versions and model_events."""
    package = Path(__file__).resolve().parent.parent / "bank_scoring" / "training"
    for path in package.glob("*.py"):
        source = path.read_text()
        assert "model_versions" not in source and "model_events" not in source, path.name


def test_gradient_boosting_takes_the_category_codes_as_they_are(loaded_engine, model_dir):
    """The champion's own re-encoding is dropped only because it changes nothing, missing and
    unseen categories included; a forest keeps its encoder."""
    import numpy as np

    from bank_scoring.features import feature_frame
    from bank_scoring.training import load_training_rows, skip_repeated_encoding

    train_model(loaded_engine, model_dir)
    champion = registry.load_model(registry.require_champion(loaded_engine)).pipeline.estimator_.base_
    assert champion.named_steps["model"].__class__.__name__ == "EarlyStoppedBoosting"
    assert champion.named_steps["model"]._preprocessor is None

    rows = load_training_rows(loaded_engine)
    X = feature_frame(rows, rows["contact_month"], rows["contact_day"], 2026.0)
    y = rows["is_subscribed"].astype(int).to_numpy()
    kept, skipped = (build_pipeline("hist_gradient_boosting").fit(X, y) for _ in range(2))
    assert kept.named_steps["model"]._preprocessor is not None  # as scikit-learn fits it
    assert skip_repeated_encoding(skipped, X) and skipped.named_steps["model"]._preprocessor is None
    odd = X.head(300).copy()
    odd["job"] = odd["job"].astype(object)
    odd.loc[:99, "job"] = "astronaut"
    odd.loc[100:199, "education"] = None
    odd.loc[200:299, "previous_outcome"] = "NA"
    assert np.array_equal(kept.predict_proba(odd), skipped.predict_proba(odd))
    assert not np.array_equal(kept.predict_proba(odd)[:100], kept.predict_proba(X.head(100)))  # the odd rows count

    forest = build_pipeline("random_forest").fit(X, y)
    assert not skip_repeated_encoding(forest, X)


def test_gradient_boosting_stops_early_on_a_small_history(bank_sample_csv):
    """4,521 calls (scikit-learn's "auto" stops early only above 10,000): the default's
    gradient boosting stops early, and orders calls it was not fitted on better than
    walking all its trees; with fewer than MIN_PER_OUTCOME subscribers it walks them all."""
    import numpy as np
    from sklearn.metrics import log_loss, roc_auc_score

    from bank_scoring.features import feature_frame
    from bank_scoring.ingest import read_uci_csv
    from bank_scoring.training.estimators import MIN_PER_OUTCOME

    rows = read_uci_csv(bank_sample_csv)
    X = feature_frame(rows, rows["contact_month"], rows["contact_day"], rows["contact_year"])
    y = rows["is_subscribed"].astype(int).to_numpy()
    fit, test = np.arange(len(y)) % 3 != 0, np.arange(len(y)) % 3 == 0
    stopped = build_pipeline("hist_gradient_boosting").fit(X[fit], y[fit])
    model = stopped.named_steps["model"]
    assert model.do_early_stopping_ and model.n_iter_ < 100 and model.early_stopping is True
    every_tree = build_pipeline("hist_gradient_boosting").set_params(model__early_stopping=False).fit(X[fit], y[fit])
    assert every_tree.named_steps["model"].n_iter_ == 300
    p = [m.predict_proba(X[test])[:, 1] for m in (stopped, every_tree)]
    auc, loss = [roc_auc_score(y[test], q) for q in p], [log_loss(y[test], q) for q in p]
    assert auc[0] > auc[1] and loss[0] < loss[1], (auc, loss)  # 0.729 vs 0.714; better at seeds 0-4 too

    few = np.r_[np.flatnonzero(y == 1)[: MIN_PER_OUTCOME - 1], np.flatnonzero(y == 0)[:1000]]
    small = build_pipeline("hist_gradient_boosting").fit(X.iloc[few], y[few]).named_steps["model"]
    assert not small.do_early_stopping_ and small.n_iter_ == 300 and small.early_stopping is True
