"""6: a missing, truncated or modified artifact stops the night loudly; the last scores stay."""

from pathlib import Path

import joblib
import pytest

from bank_scoring import registry
from bank_scoring.scoring import score_customers

from .conftest import DAY, cli, control_of, scalar


@pytest.mark.parametrize("damage", ["missing", "truncated", "modified"])
def test_tampered_artifact_fails_the_run_and_keeps_the_published_list(pg_ready, model_dir, monkeypatch, damage):
    path = Path(registry.require_champion(pg_ready).artifact_path)
    original = path.read_bytes()
    if damage == "missing":
        path.unlink()
    elif damage == "truncated":
        path.write_bytes(original[: len(original) // 2])
    else:  # same size, one byte changed: a swapped pickle would look like this
        path.write_bytes(original[:-1] + bytes([original[-1] ^ 0xFF]))
    monkeypatch.setattr(joblib, "load", lambda *a, **k: pytest.fail("joblib.load on an unverified file"))

    with pytest.raises(registry.ModelIntegrityError):
        score_customers(pg_ready, DAY)
    assert scalar(pg_ready, "select max(run_id) from agent_worklist") == pg_ready.old_run.run_id
    listed = scalar(pg_ready, "select count(*) from agent_worklist")
    assert listed == 3000 - control_of(pg_ready, pg_ready.old_run.run_id)  # the whole run but its control group
    assert scalar(pg_ready, "select count(*) from scoring_runs where status = 'running'") == 0

    url = pg_ready.url.render_as_string(hide_password=False)
    done = cli(["score", "--date", DAY.isoformat()], url, model_dir)
    assert done.returncode == 1
    assert ("missing" if damage == "missing" else "refusing to load a file that changed") in done.stderr
    assert "Traceback" not in done.stderr
