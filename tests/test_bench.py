"""Benchmarks still run (smoke test on the small UCI sample; figures are not asserted)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_model_quality_bench_runs(bank_sample_csv):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "model_quality.py"), "--csv", str(bank_sample_csv),
                           "--folds", "2"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "tutorial: RF, 8 client columns" in done.stdout
    assert "ours: hist_gradient_boosting (default)" in done.stdout
    assert "time-ordered backtest" in done.stdout


@pytest.mark.slow
def test_scoring_throughput_quick_mode_runs(bank_full_csv, pg_admin_url, tmp_path):
    """The CI smoke run of bench/scoring_throughput.py: 1M customers, PostgreSQL and SQLite.

    Figures are printed, not asserted; what is asserted is that both contestants scored
    every generated customer and the table and profile were printed.
    """
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "scoring_throughput.py"), "--quick",
                           "--csv", str(bank_full_csv)], capture_output=True, text=True, timeout=2400,
                          env={**os.environ, "BENCH_PG_URL": pg_admin_url, "TMPDIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert not list(tmp_path.glob("bank_scoring_bench_*"))  # its SQLite files and models are gone
    out = done.stdout
    for database in ("PostgreSQL", "SQLite"):
        assert f"\n{database}\n" in out
    assert len(re.findall(r"ours: score_customers, 8 partitions, 2 workers +1,000,000 ", out)) == 2
    assert len(re.findall(r"naive: read_sql whole table, predict, to_sql +1,000,000 ", out)) == 2
    assert "publish: rank and insert" in out and "predict" in out
    assert "vacuumed, analysed and checkpointed" in done.stderr
    assert "training on bank-full with model selection" in out
