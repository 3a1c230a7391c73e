"""The model report: an HTML page with its PNG charts, beside the artifact, linked from the registry."""

import datetime as dt
import re
from pathlib import Path

from sqlalchemy import text

from bank_scoring import registry
from bank_scoring.cli import main
from bank_scoring.report import CHARTS, evaluation_path, write_report
from bank_scoring.scoring import score_customers
from bank_scoring.training import train_model

PNG = b"\x89PNG\r\n\x1a\n"


def test_every_version_gets_a_report_holding_its_charts(loaded_engine, model_dir):
    first = train_model(loaded_engine, model_dir)
    second = train_model(loaded_engine, model_dir, estimator="logistic_regression", promote="never")
    for result in (first, second):
        version = registry.get_version(loaded_engine, result.model_version)
        assert version.report_path is None  # training saves the evaluation; the report is its own step
        assert evaluation_path(version.artifact_path).is_file()
        written = write_report(loaded_engine, result.model_version)
        index = Path(registry_path(loaded_engine, result.model_version))
        assert index == written
        assert index.is_file() and index.parent.parent == Path(version.artifact_path).parent
        page = index.read_text()
        images = re.findall(r'<img src="([^"]+)"', page)
        assert sorted(images) == sorted(CHARTS)
        for image in images:  # every chart the page shows is a real PNG beside it
            data = (index.parent / image).read_bytes()
            assert data.startswith(PNG) and len(data) > 5000, image
        assert "times</b> as many per call as calling at random" in page
        assert "Can the percentages be trusted?" in page
        # the list's figures come first: ordering within a call day, per month
        assert page.index("Tonight's list") < page.index("The whole held-out set")
        same_day = version.metrics["same_day_auc"]
        assert f"same-day AUC <b>{same_day:.3f}</b>" in page and "<th>same-day AUC</th>" in page
    second_page = Path(registry_path(loaded_engine, second.model_version)).read_text()
    assert f"champion v{first.model_version}" in second_page
    assert "days resampled" in second_page and "most recent held-out calls" in second_page


def registry_path(engine, version):
    return registry.get_version(engine, version).report_path


def test_writing_a_report_again_replaces_it(loaded_engine, model_dir):
    """What the retrain DAG does when the same rows gave an existing version."""
    result = train_model(loaded_engine, model_dir)
    first = write_report(loaded_engine, result.model_version)
    again = write_report(loaded_engine, train_model(loaded_engine, model_dir).model_version)
    assert again == first and registry_path(loaded_engine, result.model_version) == str(first)


def test_report_command_prints_the_path_and_shows_recent_drift(loaded_engine, model_dir, capsys, monkeypatch):
    result = train_model(loaded_engine, model_dir)
    for day in (27, 28):
        score_customers(loaded_engine, dt.date(2026, 11, day))
    url = loaded_engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("BANK_SCORING_MODEL_DIR", str(model_dir))
    assert main(["--db-url", url, "report", str(result.model_version)]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == registry_path(loaded_engine, result.model_version)
    page = Path(printed).read_text()
    assert "Latest run:" in page and "stable" in page
    assert "Contact history, set by the centre's own calls and never alerted: campaign" in page
    with loaded_engine.begin() as conn:  # a new campaign: nobody called in it yet
        conn.execute(text("update customers set campaign = 0"))
    score_customers(loaded_engine, dt.date(2026, 11, 29))
    assert main(["--db-url", url, "report", str(result.model_version)]) == 0
    latest = Path(capsys.readouterr().out.strip()).read_text().split("Latest run:")[1].split("</p>")[0]
    assert "(all below 0.2: stable)" in latest and "consider retraining" not in latest
    assert main(["--db-url", url, "report", "99"]) != 0
