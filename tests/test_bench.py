"""Benchmarks still run (smoke test on the small UCI sample; figures are not asserted).

Running a bench is slow: only ``make test`` runs them; the summary's arithmetic is a quick check.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_model_quality_bench_runs(bank_sample_csv):
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "model_quality.py"), "--csv", str(bank_sample_csv), "--folds", "2"],
        capture_output=True,
        text=True,
        timeout=600,
    )
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
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "scoring_throughput.py"), "--quick", "--csv", str(bank_full_csv)],
        capture_output=True,
        text=True,
        timeout=2400,
        env={**os.environ, "BENCH_PG_URL": pg_admin_url, "TMPDIR": str(tmp_path)},
    )
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


@pytest.mark.slow
def test_scoring_throughput_repeats_alternate_and_report_the_median(bank_sample_csv, tmp_path):
    """--repeat N: each contestant runs N times; the table gives the median and every run's seconds."""
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "scoring_throughput.py"),
            "--no-postgres",
            "--customers",
            "20000",
            "--partitions",
            "2",
            "--workers",
            "2",
            "--repeat",
            "3",
            "--csv",
            str(bank_sample_csv),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    order = re.findall(r"SQLite: (our scoring run|naive baseline on 20,000 customers) \((\d) of 3\)", done.stderr)
    assert order == [
        (kind, str(i)) for i in (1, 2, 3) for kind in ("our scoring run", "naive baseline on 20,000 customers")
    ]
    assert "seconds of each run" in done.stdout
    for name in ("ours: score_customers, 2 partitions, 2 workers", "naive: read_sql whole table, predict, to_sql"):
        line = next(row for row in done.stdout.splitlines() if row.startswith(name))
        median, *each = re.search(
            r" (\d+\.\d) +[\d,]+ +[\d,]+ MB +[\d.]+x +(\d+\.\d), (\d+\.\d), (\d+\.\d)$", line
        ).groups()
        assert median == sorted(each, key=float)[1]
    assert "(the median run)" in done.stdout


def test_a_repeated_run_summary_is_an_actual_run():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_throughput", ROOT / "bench" / "scoring_throughput.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    runs = [
        {"seconds": s, "peak_rss": p, "profile": {"publish": s}} for s, p in ((5.0, 10), (3.0, 30), (4.0, 20), (6.0, 5))
    ]
    summary = bench.summarise(runs)
    assert summary["seconds"] == 4.0 and summary["profile"] == {"publish": 4.0}  # the lower median, not a mean
    assert summary["runs"] == [5.0, 3.0, 4.0, 6.0] and summary["peak_rss"] == 30
