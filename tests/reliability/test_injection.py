"""9: values from users reach SQL only as bound parameters."""

import ast
from pathlib import Path

import pytest
from sqlalchemy import text

from bank_scoring import registry
from bank_scoring.training import train_model
from bank_scoring.worklist import fetch_worklist

from .conftest import cli, scalar

PACKAGE = Path(__file__).resolve().parents[2] / "bank_scoring"
EVIL = ["x'); drop table customers; --", "A' or '1'='1", "1; delete from customer_scores", '" or ""="']
TABLES = ("customers", "campaign_contacts", "customer_scores", "model_versions", "model_events")

# Names that may be spliced into SQL text: each is built from code constants, never user input.
SPLICED_OK = {
    "columns",
    "column",
    "table",
    "where",
    "source",
    "sql",
    "_VERSION_COLUMNS",
    "_RUN_COLUMNS",
    "RANKED",
    "customer_cols",
    "contact_cols",
    "c",
    "held_by",  # the contact policy's expression, read from sql/contact_policy.sql
    "rule",
    "_CUSTOMER",
    "_SETTINGS_COLUMNS",
    "_ROW_COLUMNS",  # the harvest's training-row columns, a code constant
    "marks",  # bind-parameter placeholders (":c0, :c1, ...") generated in code
    "limit",  # spliced only as int(limit)
    "int",
    "names",  # lead_assignments' column names, a code constant (loop/control.py)
    "arrays",  # their casts to array types, built from the same names
    "placeholders",  # bind-parameter placeholders for those names
    "join",  # "cross join" or "inner join", by dialect (agents/policy.py)
}


def test_sql_text_only_splices_code_constants():
    """Every f-string handed to text() interpolates only names from SPLICED_OK."""
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):  # subpackages too
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "text" and node.args:
                for part in ast.walk(node.args[0]):
                    if isinstance(part, ast.FormattedValue):
                        names = {n.id for n in ast.walk(part.value) if isinstance(n, ast.Name)}
                        if not names <= SPLICED_OK:
                            place = f"{path.relative_to(PACKAGE)}:{node.lineno}"
                            bad.append(f"{place} splices {sorted(names - SPLICED_OK)}")
    assert bad == []


def counts(engine):
    return {t: scalar(engine, f"select count(*) from {t}") for t in TABLES}


def run_main(args, db_url) -> int:
    from bank_scoring.cli import main

    try:
        return main(["--db-url", db_url, *args])
    except SystemExit as exit_:  # argparse refusing a value
        return exit_.code


def test_cli_arguments_are_refused_or_stored_verbatim(ready, ready_url, model_dir, capsys):
    before = counts(ready)
    for evil in EVIL:
        for args in (
            ["worklist", "--band", evil],
            ["score", "--date", evil],
            ["train", "--window-start", evil],
            ["worklist", "--limit", evil],
            ["models", "promote", evil, "--reason", "x"],
            ["rejects", "--run", evil],
        ):
            assert run_main(args, ready_url) == 2, args
    assert counts(ready) == before
    # A free-text reason is stored exactly as typed, and nothing else happens.
    second = train_model(ready, model_dir, estimator="logistic_regression", promote="never").model_version
    assert run_main(["models", "promote", str(second), "--reason", EVIL[0], "--actor", EVIL[1]], ready_url) == 0
    capsys.readouterr()
    last = registry.events(ready)[-1]
    assert (last["event"], last["reason"], last["actor"]) == ("promoted", EVIL[0], EVIL[1])
    assert counts(ready)["customers"] == before["customers"]


@pytest.mark.parametrize("evil", EVIL)
def test_worklist_filters_and_params_refuse_injection(ready, evil):
    with pytest.raises(ValueError):
        fetch_worklist(ready, band=evil)
    from bank_scoring.scoring import resolve_score_date
    from bank_scoring.training import check_training_window

    with pytest.raises(ValueError):
        resolve_score_date(evil, None)
    with pytest.raises(ValueError):
        check_training_window(ready, evil)


def test_evil_text_in_data_is_just_data(ready, model_dir, ready_url, tmp_path):
    """A job title full of SQL is loaded, scored as an unknown category and shown verbatim."""
    from bank_scoring.generate import generate_calls, write_uci_csv

    frame = generate_calls(200, seed=11)
    frame.loc[:4, "job"] = EVIL + ["robert'); drop table students;--"][: 5 - len(EVIL)]
    csv = write_uci_csv(frame, tmp_path / "evil.csv")
    done = cli(["load-csv", str(csv)], ready_url, model_dir)
    assert done.returncode == 0, done.stderr
    done = cli(["score", "--date", "2026-11-30"], ready_url, model_dir)
    assert done.returncode == 0, done.stderr
    assert "3,200 customers scored, 0 rejected" in done.stdout
    with ready.connect() as conn:
        jobs = {
            r[0] for r in conn.execute(text("select job from customers where job like '%drop%' or job like '%''%'"))
        }
    assert EVIL[0] in jobs
    assert scalar(ready, "select count(*) from customer_scores where score_date = '2026-11-30'") == 3200
