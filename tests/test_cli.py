"""The bank-scoring command as a user runs it: a real subprocess, real files."""

import os
import subprocess
import sys

import pytest

from bank_scoring.cli import build_parser

SUBCOMMANDS = [
    "init-db",
    "load-csv",
    "load-data",
    "generate",
    "train",
    "models",
    "models list",
    "models promote",
    "models rollback",
    "models history",
    "report",
    "score",
    "runs",
    "rejects",
    "worklist",
    "summary",
]
HEAVY = ("sklearn", "pandas", "numpy")


def run(args, db_url, tmp_path, check=True, env=None):
    full_env = {
        **os.environ,
        "BANK_SCORING_DB_URL": db_url,
        "BANK_SCORING_MODEL_DIR": str(tmp_path / "models"),
        "BANK_SCORING_VAR_DIR": str(tmp_path / "var"),
        **(env or {}),
    }
    done = subprocess.run(
        [sys.executable, "-m", "bank_scoring.cli", *args], capture_output=True, text=True, env=full_env, timeout=300
    )
    if check and done.returncode != 0:
        raise AssertionError(f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def test_every_subcommand_has_help(capsys):
    parser = build_parser()
    for name in ["", *SUBCOMMANDS]:
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args([*name.split(), "--help"])
        assert exit_.value.code == 0
        assert "usage: bank-scoring" in capsys.readouterr().out


def test_help_imports_neither_scikit_learn_nor_pandas_nor_numpy(tmp_path):
    # Every subcommand's --help, through main() as the console script calls it, in a fresh interpreter.
    probe = (
        "import sys\n"
        "from bank_scoring.cli import main\n"
        f"for name in {['', *SUBCOMMANDS]!r}:\n"
        "    try:\n"
        "        main([*name.split(), '--help'])\n"
        "    except SystemExit as exit_:\n"
        "        assert exit_.code == 0, (name, exit_.code)\n"
        "    else:\n"
        "        raise AssertionError(name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    # `python -m bank_scoring.cli --help`, with the interpreter's own record of every import.
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bank_scoring.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0 and "usage: bank-scoring" in done.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "|" in line}
    assert "bank_scoring" in imported and not imported & set(HEAVY)


def test_bad_arguments_are_explained(capsys):
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["score", "--date", "tomorrow"])
    assert "expected a date as YYYY-MM-DD" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["worklist", "--band", "Z"])
    assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["runs", "--limit", "0"])
    assert "expected at least 1" in capsys.readouterr().err


def test_bad_setting_in_the_environment_exits_2(sqlite_url, tmp_path):
    done = run(["runs"], sqlite_url, tmp_path, check=False, env={"BANK_SCORING_PARTITIONS": "many"})
    assert done.returncode == 2 and "configuration error" in done.stderr and "BANK_SCORING_PARTITIONS" in done.stderr


@pytest.mark.slow  # the demo covers the same path in make test
def test_the_whole_job_from_the_command_line(db_url, tmp_path):
    csv = tmp_path / "calls.csv"
    assert (
        "wrote 2,500"
        in run(["generate", "--customers", "2500", "--seed", "5", "--out", str(csv)], db_url, tmp_path).stdout
    )
    assert "loaded 2,500 customers" in run(["load-csv", str(csv)], db_url, tmp_path).stdout
    assert "already loaded" in run(["load-csv", str(csv)], db_url, tmp_path).stdout
    assert "no scoring runs yet" in run(["rejects"], db_url, tmp_path).stdout
    trained = run(["train"], db_url, tmp_path).stdout
    assert "model v1 (" in trained and ") trained on 2,500 calls" in trained and "status champion" in trained
    report = (tmp_path / "models" / "model-v0001.report" / "index.html").resolve()
    assert f"report: {report}" in trained and report.is_file()  # train draws the new version's report
    retrained = run(["train"], db_url, tmp_path).stdout
    assert "already trained as v1" in retrained and f"report: {report}" in retrained
    scored = run(["score", "--date", "2026-11-28", "--partitions", "3"], db_url, tmp_path).stdout
    assert "2,500 customers scored, 0 rejected" in scored
    assert "for 2026-11-28: published" in run(["runs"], db_url, tmp_path).stdout
    assert run(["rejects"], db_url, tmp_path).stdout.startswith("run 1: 0 reject(s) shown")
    table = run(["worklist", "--limit", "5"], db_url, tmp_path).stdout.splitlines()
    assert table[0].split()[:4] == ["rank", "customer", "propensity", "band"] and len(table) == 6
    summary = run(["summary", "--date", "2026-11-28", "--limit", "3"], db_url, tmp_path).stdout
    assert "Scores for 2026-11-28: 2,500 customers scored, 0 rejected (run 1, model v1" in summary
    assert "calibration error 0." in summary and f"Model report (open in a browser): {report}" in summary
    missing = run(["summary", "--date", "2026-11-27"], db_url, tmp_path, check=False)
    assert missing.returncode == 1 and "no published run for 2026-11-27" in missing.stdout
    assert "champion" in run(["models"], db_url, tmp_path).stdout
    assert "promoted" in run(["models", "history"], db_url, tmp_path).stdout


def test_report_is_a_step_of_its_own_that_train_runs_unless_asked_not_to(trained_sqlite_url, tmp_path):
    # The session's trained copy: v1 (the default estimator, seed 42) registered without a report.
    same_as_v1 = ["train", "--estimator", "ranking_blend"]
    reused = run([*same_as_v1, "--no-report"], trained_sqlite_url, tmp_path).stdout
    assert "already trained as v1" in reused and "report: not written; run `bank-scoring report 1`" in reused
    summary = run(["summary"], trained_sqlite_url, tmp_path, check=False).stdout
    assert "Model report: not written yet; run `bank-scoring report 1`" in summary
    written = run(["report"], trained_sqlite_url, tmp_path).stdout.strip()
    assert written.endswith("model-v0001.report/index.html") and os.path.isfile(written)
    summary = run(["summary"], trained_sqlite_url, tmp_path, check=False).stdout
    assert f"Model report (open in a browser): {written}" in summary
    assert f"report: {written}" in run(same_as_v1, trained_sqlite_url, tmp_path).stdout


def test_bad_file_exits_2_naming_line_and_field(sqlite_url, tmp_path):
    csv = tmp_path / "bad.csv"
    run(["generate", "--customers", "30", "--out", str(csv)], sqlite_url, tmp_path)
    lines = csv.read_text().splitlines()
    lines[5] = "abc" + lines[5][lines[5].index(";") :]
    csv.write_text("\n".join(lines) + "\n")
    done = run(["load-csv", str(csv)], sqlite_url, tmp_path, check=False)
    assert done.returncode == 2
    assert "line 6, field age: 'abc' is not a whole number" in done.stderr
    assert "Traceback" not in done.stderr


def test_scoring_without_a_model_says_what_to_do(sqlite_url, tmp_path):
    run(["generate", "--customers", "300"], sqlite_url, tmp_path)
    done = run(["score", "--date", "today"], sqlite_url, tmp_path, check=False)
    assert done.returncode == 1 and "bank-scoring train" in done.stderr


def test_unreachable_database_exits_1_without_the_password(tmp_path):
    url = "postgresql+psycopg://pipeline:hunter2@127.0.0.1:9/bank"
    done = run(["score", "--date", "2026-11-28"], url, tmp_path, check=False)
    assert done.returncode == 1 and "database error" in done.stderr and "nothing was published" in done.stderr
    assert "hunter2" not in done.stderr and "Traceback" not in done.stderr


def test_init_db_refuses_a_database_it_cannot_upgrade(pg_url, tmp_path):
    from bank_scoring.db import make_db_engine

    engine = make_db_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "create table customer_scores (score_date date not null, customer_id bigint not null, "
            "primary key (score_date, customer_id))"
        )
    engine.dispose()
    done = run(["init-db"], pg_url, tmp_path, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("bank-scoring init-db: customer_scores in ")
    assert "drop table customer_scores" in done.stderr and "`bank-scoring init-db` again" in done.stderr


def test_offline_fallback_to_synthetic_data(sqlite_url, tmp_path):
    done = run(
        ["load-data", "--url", "http://127.0.0.1:9/none.zip", "--timeout", "3", "--synthetic-if-unavailable", "400"],
        sqlite_url,
        tmp_path,
        env={"BANK_CSV": ""},
    )
    assert "UCI data unavailable" in done.stderr and "synthetic" in done.stderr
    assert "loaded 400 customers" in done.stdout
    refused = run(
        ["load-data", "--url", "http://127.0.0.1:9/none.zip", "--timeout", "3"],
        sqlite_url,
        tmp_path,
        check=False,
        env={"BANK_CSV": ""},
    )
    assert refused.returncode == 1 and "Set BANK_CSV" in refused.stderr
