"""The bank-scoring command as a user runs it: a real subprocess, real files."""

import os
import subprocess
import sys

import pytest

from bank_scoring.cli import build_parser

SUBCOMMANDS = ["init-db", "load-csv", "load-data", "generate", "train", "models", "models rollback", "score", "runs",
               "rejects", "worklist", "summary"]


def run(args, db_url, tmp_path, check=True, env=None):
    full_env = {**os.environ, "BANK_SCORING_DB_URL": db_url, "BANK_SCORING_MODEL_DIR": str(tmp_path / "models"),
                "BANK_SCORING_VAR_DIR": str(tmp_path / "var"), **(env or {})}
    done = subprocess.run([sys.executable, "-m", "bank_scoring.cli", *args], capture_output=True, text=True,
                          env=full_env, timeout=300)
    if check and done.returncode != 0:
        raise AssertionError(f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def test_every_subcommand_has_help(capsys):
    parser = build_parser()
    for name in [*SUBCOMMANDS, "models promote", "models history"]:
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args([*name.split(), "--help"])
        assert exit_.value.code == 0
        assert "usage: bank-scoring" in capsys.readouterr().out


def test_bad_arguments_are_explained(capsys):
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["score", "--date", "tomorrow"])
    assert "expected a date as YYYY-MM-DD" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["worklist", "--band", "Z"])
    assert "invalid choice" in capsys.readouterr().err


def test_the_whole_job_from_the_command_line(db_url, tmp_path):
    csv = tmp_path / "calls.csv"
    assert "wrote 2,500" in run(["generate", "--customers", "2500", "--seed", "5", "--out", str(csv)], db_url,
                                tmp_path).stdout
    assert "loaded 2,500 customers" in run(["load-csv", str(csv)], db_url, tmp_path).stdout
    assert "already loaded" in run(["load-csv", str(csv)], db_url, tmp_path).stdout
    trained = run(["train"], db_url, tmp_path).stdout
    assert "model v1 (" in trained and ") trained on 2,500 calls" in trained and "status champion" in trained
    scored = run(["score", "--date", "2026-11-28", "--partitions", "3"], db_url, tmp_path).stdout
    assert "2,500 customers scored, 0 rejected" in scored
    table = run(["worklist", "--limit", "5"], db_url, tmp_path).stdout.splitlines()
    assert table[0].split()[:4] == ["rank", "customer", "propensity", "band"] and len(table) == 6
    summary = run(["summary", "--date", "2026-11-28", "--limit", "3"], db_url, tmp_path).stdout
    assert "Scores for 2026-11-28: 2,500 customers scored, 0 rejected" in summary
    assert "champion" in run(["models"], db_url, tmp_path).stdout
    assert "promoted" in run(["models", "history"], db_url, tmp_path).stdout


def test_bad_file_exits_2_naming_line_and_field(sqlite_url, tmp_path):
    csv = tmp_path / "bad.csv"
    run(["generate", "--customers", "30", "--out", str(csv)], sqlite_url, tmp_path)
    lines = csv.read_text().splitlines()
    lines[5] = "abc" + lines[5][lines[5].index(";"):]
    csv.write_text("\n".join(lines) + "\n")
    done = run(["load-csv", str(csv)], sqlite_url, tmp_path, check=False)
    assert done.returncode == 2
    assert "line 6, field age: 'abc' is not a whole number" in done.stderr
    assert "Traceback" not in done.stderr


def test_scoring_without_a_model_says_what_to_do(sqlite_url, tmp_path):
    run(["generate", "--customers", "300"], sqlite_url, tmp_path)
    done = run(["score", "--date", "today"], sqlite_url, tmp_path, check=False)
    assert done.returncode == 1 and "bank-scoring train" in done.stderr


def test_offline_fallback_to_synthetic_data(sqlite_url, tmp_path):
    done = run(["load-data", "--url", "http://127.0.0.1:9/none.zip", "--timeout", "3",
                "--synthetic-if-unavailable", "400"], sqlite_url, tmp_path, env={"BANK_CSV": ""})
    assert "UCI data unavailable" in done.stderr and "synthetic" in done.stderr
    assert "loaded 400 customers" in done.stdout
    refused = run(["load-data", "--url", "http://127.0.0.1:9/none.zip", "--timeout", "3"], sqlite_url, tmp_path,
                  check=False, env={"BANK_CSV": ""})
    assert refused.returncode == 1 and "Set BANK_CSV" in refused.stderr
