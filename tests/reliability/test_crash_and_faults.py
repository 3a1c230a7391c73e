"""3 and 4: a killed scoring process and a dropped database connection lose nothing."""

import datetime as dt
import os
import re
import signal
import threading
from contextlib import contextmanager

import pytest
from sqlalchemy import text

from bank_scoring.scoring import STALE_RUN_HOURS, plan_partitions, score_customers, score_partition, start_run

from .conftest import DAY, cli, control_of, scalar, wait_for


def assert_complete(engine, customers: int):
    assert scalar(engine, "select count(*) from customer_scores where score_date = :d", d=DAY) == customers
    assert (
        scalar(engine, "select count(distinct customer_id) from customer_scores where score_date = :d", d=DAY)
        == customers
    )
    assert scalar(engine, "select count(*) from customer_scores_staging") == 0
    assert scalar(engine, "select count(*) from scoring_runs where status = 'running'") == 0


# The pipeline's sessions (make_db_engine names them) that wait on a lock: the gate below.
WAITING = (
    "select pid from pg_stat_activity where datname = current_database() "
    "and application_name = 'bank_scoring' and wait_event_type = 'Lock'"
)
GATE = 424242  # the advisory lock key of the gate


@contextmanager
def gate_past(engine, customer_id: int):
    """Inside the block, the pipeline's write of any customer past ``customer_id`` waits.

    A trigger on the staging table takes a shared advisory lock for those rows, and the test
    holds the lock exclusively until the block ends. So a run stops mid-run, deterministically:
    the customers up to ``customer_id`` are staged, the next write waits inside its statement
    (see ``stopped``). Once the lock is released the trigger lets everything through.
    """
    with engine.begin() as conn:
        conn.execute(
            text(f"""
            create or replace function test_gate() returns trigger language plpgsql as $$
            begin
                if new.customer_id > {int(customer_id)} then
                    perform pg_advisory_xact_lock_shared({GATE});
                end if;
                return new;
            end $$""")
        )
        conn.execute(text("drop trigger if exists test_gate on customer_scores_staging"))
        conn.execute(
            text(
                "create trigger test_gate before insert on customer_scores_staging "
                "for each row execute function test_gate()"
            )
        )
    with engine.connect() as holder:
        holder.execute(text("select pg_advisory_lock(:k)"), {"k": GATE})
        try:
            yield
        finally:
            holder.execute(text("select pg_advisory_unlock(:k)"), {"k": GATE})


def stopped(engine, proc=None) -> list[int]:
    """Wait until the pipeline waits at the gate (or ``proc`` has ended); its sessions' pids."""
    wait_for(
        lambda: scalar(engine, WAITING) is not None or (proc is not None and proc.poll() is not None),
        what="the pipeline stopped at the gate",
    )
    assert proc is None or proc.poll() is None, proc.communicate()
    with engine.connect() as conn:
        return list(conn.execute(text(WAITING)).scalars())


def terminate(engine, pids: list[int]) -> int:
    """Drop the pipeline's connections while they are inside a statement.

    Only sessions waiting at the gate are terminated: an idle pooled session would just be
    replaced by pool_pre_ping, which proves nothing.
    """
    with engine.connect() as conn:
        return sum(conn.execute(text("select pg_terminate_backend(:p)"), {"p": pid}).scalar() for pid in pids)


def test_kill_9_mid_run_keeps_the_old_list_and_a_rerun_completes(pg_ready, model_dir):
    url = pg_ready.url.render_as_string(hide_password=False)
    with gate_past(pg_ready, 1500):
        proc = cli(
            ["score", "--date", DAY.isoformat(), "--chunk-rows", "500", "--partitions", "1"], url, model_dir, wait=False
        )
        stopped(pg_ready, proc)
        staged = scalar(pg_ready, "select count(*) from customer_scores_staging")
        assert 0 < staged <= 1500, staged  # mid-run: begun, and nothing past the gate
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    # Agents still see the previous published run, whole.
    assert scalar(pg_ready, "select count(distinct run_id) from agent_worklist") == 1
    assert scalar(pg_ready, "select max(run_id) from agent_worklist") == pg_ready.old_run.run_id
    listed = scalar(pg_ready, "select count(*) from agent_worklist")
    assert listed == 3000 - control_of(pg_ready, pg_ready.old_run.run_id)  # the whole run but its control group
    killed = scalar(pg_ready, "select max(run_id) from scoring_runs where status = 'running'")

    done = cli(["score", "--date", DAY.isoformat()], url, model_dir)
    assert done.returncode == 0, done.stderr
    assert_complete(pg_ready, 3000)
    assert scalar(pg_ready, "select status from scoring_runs where run_id = :r", r=killed) == "failed"
    assert "abandoned" in scalar(pg_ready, "select error from scoring_runs where run_id = :r", r=killed)


def test_dropped_connection_fails_the_cli_clearly_and_a_rerun_completes(pg_ready, model_dir):
    url = pg_ready.url.render_as_string(hide_password=False)
    with gate_past(pg_ready, 2000):
        proc = cli(["score", "--date", DAY.isoformat(), "--chunk-rows", "500"], url, model_dir, wait=False)
        assert terminate(pg_ready, stopped(pg_ready, proc)) == 1
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, out + err
    assert "database error" in err and (
        "terminat" in err or "closed the connection" in err or "connection is lost" in err
    )
    assert "agents still see the previous published run" in err and "Traceback" not in err
    assert scalar(pg_ready, "select max(run_id) from agent_worklist") == pg_ready.old_run.run_id

    done = cli(["score", "--date", DAY.isoformat()], url, model_dir)
    assert done.returncode == 0, done.stderr
    assert_complete(pg_ready, 3000)


@pytest.mark.airflow
def test_dropped_connection_in_a_partition_task_is_retried_by_airflow(pg_ready, model_dir, dags_test):
    url = pg_ready.url.render_as_string(hide_password=False).replace("postgresql+psycopg", "postgresql")
    armed, killed = threading.Event(), []

    def kill_once():
        """Stop the first partition task that writes past customer 2000, drop its connection, let the retry pass."""
        with gate_past(pg_ready, 2000):
            armed.set()
            killed.append(terminate(pg_ready, stopped(pg_ready)))

    killer = threading.Thread(target=kill_once, daemon=True)
    killer.start()
    assert armed.wait(timeout=60), "the gate was not set up"
    done = dags_test(
        "bank_scoring_nightly",
        DAY.isoformat(),
        {
            "AIRFLOW_CONN_BANK_SCORING_DB": url,
            "BANK_SCORING_MODEL_DIR": str(model_dir),
            "BANK_SCORING_CHUNK_ROWS": "500",
        },
    )
    killer.join(timeout=60)
    log = done.log.read_text()
    assert killed == [1]
    assert done.returncode == 0, log[-4000:]
    errors = [line for line in log.splitlines() if "Error" in line or "[error" in line]
    assert log.count("new_state=up_for_retry") == 1, errors  # one failed try, made good by its retry
    # psycopg words it by timing: the termination notice, or the socket closing first.
    assert any(
        re.search(r"(?i)terminat|closed the connection|AdminShutdown|OperationalError", line) for line in errors
    ), errors
    assert_complete(pg_ready, 3000)
    assert scalar(pg_ready, "select max(run_id) from agent_worklist") != pg_ready.old_run.run_id


def test_a_run_dead_for_hours_on_another_date_is_cleaned_up(ready):
    """Staging rows of a run whose process died, on a date never rerun, do not pile up."""
    dead = start_run(ready, dt.date(2026, 1, 5))
    ((lo, hi),) = plan_partitions(ready, 1)
    score_partition(ready, dead, lo, hi)
    long_ago = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=STALE_RUN_HOURS + 1)
    with ready.begin() as conn:
        conn.execute(text("update scoring_runs set started_at = :t where run_id = :r"), {"t": long_ago, "r": dead})
    recent = start_run(ready, dt.date(2026, 1, 6))  # died a minute ago: may still be working, left alone
    score_customers(ready, DAY)
    assert scalar(ready, "select status from scoring_runs where run_id = :r", r=dead) == "failed"
    assert scalar(ready, "select count(*) from customer_scores_staging where run_id = :r", r=dead) == 0
    assert scalar(ready, "select status from scoring_runs where run_id = :r", r=recent) == "running"
