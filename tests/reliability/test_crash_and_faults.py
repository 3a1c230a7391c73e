"""3 and 4: a killed scoring process and a dropped database connection lose nothing."""

import os
import re
import signal

from sqlalchemy import text

from .conftest import DAY, cli, inflate_customers, scalar, wait_for


def assert_complete(engine, customers: int):
    assert scalar(engine, "select count(*) from customer_scores where score_date = :d", d=DAY) == customers
    assert scalar(engine, "select count(distinct customer_id) from customer_scores where score_date = :d",
                  d=DAY) == customers
    assert scalar(engine, "select count(*) from customer_scores_staging") == 0
    assert scalar(engine, "select count(*) from scoring_runs where status = 'running'") == 0


def test_kill_9_mid_run_keeps_the_old_list_and_a_rerun_completes(pg_ready, model_dir):
    customers = inflate_customers(pg_ready, 40)  # 123,000
    url = pg_ready.url.render_as_string(hide_password=False)
    proc = cli(["score", "--date", DAY.isoformat(), "--chunk-rows", "1000", "--partitions", "1"], url, model_dir,
               wait=False)
    wait_for(lambda: scalar(pg_ready, "select count(*) from customer_scores_staging") > 5000, what="staging rows")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    # Agents still see the previous published run, whole.
    assert scalar(pg_ready, "select count(distinct run_id) from agent_worklist") == 1
    assert scalar(pg_ready, "select max(run_id) from agent_worklist") == pg_ready.old_run.run_id
    assert scalar(pg_ready, "select count(*) from agent_worklist") == 3000
    killed = scalar(pg_ready, "select max(run_id) from scoring_runs where status = 'running'")

    done = cli(["score", "--date", DAY.isoformat()], url, model_dir)
    assert done.returncode == 0, done.stderr
    assert_complete(pg_ready, customers)
    assert scalar(pg_ready, "select status from scoring_runs where run_id = :r", r=killed) == "failed"
    assert "abandoned" in scalar(pg_ready, "select error from scoring_runs where run_id = :r", r=killed)


def drop_connection_mid_statement(engine) -> int:
    """Terminate the pipeline's session while it is inside a statement, deterministically.

    The test locks the staging table so the pipeline's next insert waits on the lock, then
    terminates exactly the sessions waiting there (an idle pooled session would just be
    replaced by pool_pre_ping, which proves nothing).
    """
    waiting = ("select pid from pg_stat_activity where datname = current_database() "
               "and application_name = 'bank_scoring' and wait_event_type = 'Lock'")
    with engine.connect() as locker:
        tx = locker.begin()
        locker.execute(text("lock table customer_scores_staging in access exclusive mode"))
        wait_for(lambda: scalar(engine, waiting) is not None, what="the pipeline blocked inside an insert")
        with engine.connect() as conn:
            killed = conn.execute(text(f"select pg_terminate_backend(pid) from ({waiting}) as w")).all()
        tx.rollback()
    return len(killed)


def test_dropped_connection_fails_the_cli_clearly_and_a_rerun_completes(pg_ready, model_dir):
    customers = inflate_customers(pg_ready, 30)
    url = pg_ready.url.render_as_string(hide_password=False)
    proc = cli(["score", "--date", DAY.isoformat(), "--chunk-rows", "1000"], url, model_dir, wait=False)
    wait_for(lambda: scalar(pg_ready, "select count(*) from customer_scores_staging") > 3000, what="staging rows")
    assert drop_connection_mid_statement(pg_ready) == 1
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, out + err
    assert "database error" in err and ("terminat" in err or "closed the connection" in err
                                       or "connection is lost" in err)
    assert "agents still see the previous published run" in err and "Traceback" not in err
    assert scalar(pg_ready, "select max(run_id) from agent_worklist") == pg_ready.old_run.run_id

    done = cli(["score", "--date", DAY.isoformat()], url, model_dir)
    assert done.returncode == 0, done.stderr
    assert_complete(pg_ready, customers)


def test_dropped_connection_in_a_partition_task_is_retried_by_airflow(pg_ready, model_dir, dags_test):
    import threading

    customers = inflate_customers(pg_ready, 30)
    url = pg_ready.url.render_as_string(hide_password=False).replace("postgresql+psycopg", "postgresql")
    killed = []

    def kill_once():
        wait_for(lambda: scalar(pg_ready, "select count(*) from customer_scores_staging") > 3000, timeout=300,
                 what="a partition writing")
        killed.append(drop_connection_mid_statement(pg_ready))

    killer = threading.Thread(target=kill_once, daemon=True)
    killer.start()
    done = dags_test("bank_scoring_nightly", DAY.isoformat(),
                     {"AIRFLOW_CONN_BANK_SCORING_DB": url, "BANK_SCORING_MODEL_DIR": str(model_dir),
                      "BANK_SCORING_CHUNK_ROWS": "1000"})
    killer.join(timeout=10)
    log = done.log.read_text()
    assert killed == [1]
    assert done.returncode == 0, log[-4000:]
    errors = [line for line in log.splitlines() if "Error" in line or "[error" in line]
    assert log.count("new_state=up_for_retry") == 1, errors  # one failed try, made good by its retry
    # psycopg words it by timing: the termination notice, or the socket closing first.
    assert any(re.search(r"(?i)terminat|closed the connection|AdminShutdown|OperationalError", line)
               for line in errors), errors
    assert_complete(pg_ready, customers)
    assert scalar(pg_ready, "select max(run_id) from agent_worklist") != pg_ready.old_run.run_id


def test_a_run_dead_for_hours_on_another_date_is_cleaned_up(ready):
    """Staging rows of a run whose process died, on a date never rerun, do not pile up."""
    import datetime as dt

    from bank_scoring.score import STALE_RUN_HOURS, plan_partitions, score_customers, score_partition, start_run

    dead = start_run(ready, dt.date(2026, 1, 5))
    (lo, hi), = plan_partitions(ready, 1)
    score_partition(ready, dead, lo, hi)
    long_ago = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=STALE_RUN_HOURS + 1)
    with ready.begin() as conn:
        conn.execute(text("update scoring_runs set started_at = :t where run_id = :r"), {"t": long_ago, "r": dead})
    recent = start_run(ready, dt.date(2026, 1, 6))  # died a minute ago: may still be working, left alone
    score_customers(ready, DAY)
    assert scalar(ready, "select status from scoring_runs where run_id = :r", r=dead) == "failed"
    assert scalar(ready, "select count(*) from customer_scores_staging where run_id = :r", r=dead) == 0
    assert scalar(ready, "select status from scoring_runs where run_id = :r", r=recent) == "running"
