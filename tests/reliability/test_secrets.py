"""8: no password in committed files, and none in anything the project prints or logs."""

import re
import subprocess
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from bank_scoring.db import make_db_engine

from .conftest import DAY, cli

ROOT = Path(__file__).resolve().parents[2]
URL_WITH_PASSWORD = re.compile(r"[a-z][a-z0-9+]*://[^/\s:@'\"]+:[^@\s/'\"{}$]+@")


def test_no_committed_file_carries_a_password():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    offenders = []
    for name in tracked:
        if name.startswith("tests/") or not (ROOT / name).is_file():
            continue
        body = (ROOT / name).read_text(errors="ignore")
        offenders += [f"{name}: {m.group(0)}" for m in URL_WITH_PASSWORD.finditer(body)]
        offenders += [
            f"{name}: {m.group(0)}" for m in re.finditer(r"(?i)password\s*[:=]\s*['\"][^'\"$\s{]{3,}['\"]", body)
        ]
    assert offenders == []


@pytest.mark.airflow
def test_password_never_reaches_output_or_logs(pg_ready, pg_admin_url, model_dir, dags_test, tmp_path):
    secret = f"Sup3r-S3cret-{uuid.uuid4().hex[:8]}"
    user = f"bs_secret_{uuid.uuid4().hex[:8]}"
    admin = make_db_engine(pg_admin_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"create user {user} superuser login password '{secret}'"))
    try:
        url = pg_ready.url.set(username=user, password=secret).render_as_string(hide_password=False)
        assert secret in url
        outputs = []
        for args in (
            ["-v", "init-db"],
            ["-v", "train", "--seed", "3"],
            ["-v", "score", "--date", DAY.isoformat()],
            ["worklist", "--limit", "3"],
            ["-v", "runs"],
        ):
            done = cli(args, url, model_dir)
            assert done.returncode == 0, done.stderr
            outputs.append(done.stdout + done.stderr)
        # A failing connection (no such database) must not echo the URL either.
        broken = url.rsplit("/", 1)[0] + "/no_such_database_here"
        failed = cli(["-v", "runs"], broken, model_dir)
        assert failed.returncode == 1 and "database error" in failed.stderr
        outputs.append(failed.stdout + failed.stderr)
        # And Airflow, with the password in the connection.
        night = dags_test(
            "bank_scoring_nightly",
            "2026-11-29",
            {
                "AIRFLOW_CONN_BANK_SCORING_DB": url.replace("postgresql+psycopg", "postgresql"),
                "BANK_SCORING_MODEL_DIR": str(model_dir),
            },
        )
        assert night.returncode == 0, night.log.read_text()[-3000:]
        outputs.append(night.log.read_text())
        leaks = [i for i, out in enumerate(outputs) if secret in out]
        assert leaks == [], f"password printed by output(s) {leaks}"
        assert "***" in outputs[0]  # the masked URL is what init-db prints
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"select pg_terminate_backend(pid) from pg_stat_activity where usename = '{user}'"))
            conn.execute(text(f"drop user {user}"))
        admin.dispose()
