"""Benchmarks still run (smoke test on the small UCI sample; figures are not asserted)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_model_quality_bench_runs(bank_sample_csv):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "model_quality.py"), "--csv", str(bank_sample_csv),
                           "--folds", "2"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "tutorial: RF, 8 client columns" in done.stdout
    assert "ours: hist_gradient_boosting (default)" in done.stdout
    assert "time-ordered backtest" in done.stdout
