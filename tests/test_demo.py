"""README's first command, end to end: `make demo` runs scripts/demo.sh after installing."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from bank_scoring.db import make_db_engine

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow, pytest.mark.airflow]


def run_demo(var_dir: Path, bank_csv: Path) -> str:
    env = {
        **os.environ,
        "BANK_SCORING_VAR_DIR": str(var_dir),
        "BANK_CSV": str(bank_csv),
        "SCORE_DATE": "2026-11-28",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    for name in ("BANK_SCORING_DB_URL", "BANK_SCORING_MODEL_DIR", "AIRFLOW_HOME", "AIRFLOW__CORE__DAGS_FOLDER"):
        env.pop(name, None)
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo.sh")], capture_output=True, text=True, env=env, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_demo_twice_on_the_real_data_duplicates_nothing(tmp_path, bank_full_csv):
    first = run_demo(tmp_path / "var", bank_full_csv)
    assert "loaded 45,211 customers" in first
    assert "Scores for 2026-11-28: 45,211 customers scored, 0 rejected" in first
    worklist = first.split("Agents' worklist, top 20:")[1].strip().splitlines()[:21]
    assert worklist[0].split()[:4] == ["rank", "customer", "propensity", "band"]
    assert [int(line.split()[0]) for line in worklist[1:]] == list(range(1, 21))
    # auto chooses by same-day ranking on the latest calls; the summary leads with the list's figure
    assert re.search(
        r"Model: v1 \((ranking_blend|hist_gradient_boosting|logistic_regression)\).*same-day AUC 0\.\d+.*ROC AUC", first
    )
    assert "tonight's probabilities are brought to the level of the latest" in first
    # 5% of the customers are the control group: never called, so not callable.
    assert "night 2026-11-28 (run 1) at 2026-11-28 10:00 Europe/Lisbon: 42,994 of 45,211 customers callable" in first
    assert re.search(r"held back by control group +2,217\n", first)
    lead = re.search(r"lead for demo-agent: customer (\d+), rank 1, band A", first)
    assert lead and "bank-scoring --db-url" in first and "serve" in first

    second = run_demo(tmp_path / "var", bank_full_csv)
    assert "already loaded" in second and "already trained as v1" in second
    assert "Scores for 2026-11-28: 45,211 customers scored, 0 rejected" in second
    assert f"lead for demo-agent: customer {lead.group(1)}, rank 1, band A" in second  # released and taken again
    engine = make_db_engine(f"sqlite:///{tmp_path / 'var' / 'bank_scoring.db'}")
    with engine.connect() as conn:
        counts = {
            t: conn.execute(text(f"select count(*) from {t}")).scalar()
            for t in ("customers", "campaign_contacts", "model_versions", "customer_scores")
        }
    assert counts == {"customers": 45_211, "campaign_contacts": 45_211, "model_versions": 1, "customer_scores": 45_211}
    engine.dispose()
