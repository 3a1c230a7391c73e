"""ruff (with Airflow's AIR3 rules) keeps the code tidy and formatted; see [tool.ruff] in pyproject.toml.

The same two commands as `make lint`, so `make check` catches what `make test` would refuse.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_PATHS = ["bank_scoring", "dags", "tests", "bench"]  # as in the Makefile


@pytest.mark.parametrize(
    "command", [["check", "--output-format", "concise"], ["format", "--check"]], ids=["check", "format"]
)
def test_ruff_finds_nothing(command):
    ruff = Path(sys.executable).with_name("ruff")
    done = subprocess.run([str(ruff), *command, *LINT_PATHS], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
