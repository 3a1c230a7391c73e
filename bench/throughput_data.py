"""bench/scoring_throughput.py's data set-up: generated customers loaded into a fresh
PostgreSQL database or SQLite file, bank-full's calls, the default model, and checkpoints
so each run starts on a settled database."""

from __future__ import annotations

import datetime as dt
import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bank_scoring.features import CUSTOMER_ATTRIBUTES  # noqa: E402

SCORE_DATE = dt.date(2026, 11, 28)
BLOCK = 500_000  # customers generated per seeded block
CUSTOMER_COLUMNS = ["customer_id", *CUSTOMER_ATTRIBUTES]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def customer_blocks(n: int, seed: int):
    """Customers in blocks of BLOCK, block i drawn with seed (seed, i): the same N and seed give the same rows."""
    from bank_scoring.generate import generate_calls

    for number, start in enumerate(range(0, n, BLOCK)):
        size = min(BLOCK, n - start)
        frame = generate_calls(size, seed=seed * 100_003 + number)
        frame.insert(0, "customer_id", range(start + 1, start + size + 1))
        yield frame[CUSTOMER_COLUMNS]


def load_customers_pg(engine, n: int, seed: int) -> None:
    with engine.begin() as conn:
        cur = conn.connection.driver_connection.cursor()
        for i, frame in enumerate(customer_blocks(n, seed)):
            buffer = io.StringIO()
            frame.to_csv(buffer, header=False, index=False)
            with cur.copy(f"copy customers ({', '.join(CUSTOMER_COLUMNS)}) from stdin (format csv)") as copy:
                copy.write(buffer.getvalue())
            log(f"  loaded {min((i + 1) * BLOCK, n):,} of {n:,} customers")
    settle_pg(engine)


def settle_pg(engine) -> None:
    """What a production customers table has had long before the night: vacuumed, analysed, checkpointed.

    Straight after a bulk load the first reader sets every tuple's hint bits (rewriting
    every page), autovacuum starts on the table and the load's WAL forces checkpoints
    during the run.
    A bank's customers table is updated a little every day and vacuumed by autovacuum, so
    both contestants are measured on a settled table.
    """
    started = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("vacuum (analyze) customers")
        try:
            conn.exec_driver_sql("checkpoint")
        except Exception as exc:  # CHECKPOINT needs a superuser or pg_checkpoint
            log(f"  no checkpoint after the load ({type(exc).__name__}: {exc}); timings include it")
    log(f"  vacuumed, analysed and checkpointed in {time.perf_counter() - started:.1f}s")


def checkpoint(url: str) -> None:
    """Write out what the previous run left in memory and in the log, before the next run starts.

    Nights are a day apart and a checkpoint comes every few minutes, so a nightly run
    starts on a checkpointed database; back-to-back bench runs would otherwise pay for the
    previous run's writes.
    """
    from bank_scoring.db import make_db_engine

    engine = make_db_engine(url)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("checkpoint")
            else:
                conn.exec_driver_sql("pragma wal_checkpoint(truncate)")
    except Exception as exc:  # CHECKPOINT needs a superuser or pg_checkpoint
        log(f"  no checkpoint before the run ({type(exc).__name__}: {exc})")
    finally:
        engine.dispose()


def load_customers_sqlite(engine, n: int, seed: int) -> None:
    placeholders = ", ".join("?" for _ in CUSTOMER_COLUMNS)
    sql = f"insert into customers ({', '.join(CUSTOMER_COLUMNS)}) values ({placeholders})"
    for i, frame in enumerate(customer_blocks(n, seed)):
        rows = list(frame.astype(object).itertuples(index=False, name=None))
        with engine.begin() as conn:
            conn.exec_driver_sql(sql, rows)
        log(f"  loaded {min((i + 1) * BLOCK, n):,} of {n:,} customers into SQLite")


def prepare(
    url: str, n: int, seed: int, csv: Path, model_dir: Path, postgres: bool, estimator: str = "auto", contact_rules=None
) -> float:
    """Schema (with ``contact_rules``, init_db's), bank-full's calls, the default model (returns
    training seconds), N customers."""
    from bank_scoring.db import init_db, make_db_engine
    from bank_scoring.ingest import load_csv
    from bank_scoring.training import train_model

    engine = make_db_engine(url)
    init_db(engine, contact_rules)
    load_csv(engine, csv)
    started = time.perf_counter()
    result = train_model(engine, model_dir, estimator=estimator)  # "auto", as the CLI and the DAG do by default
    train_seconds = time.perf_counter() - started
    log(
        f"trained v{result.model_version} ({result.algorithm}"
        f"{', chosen on the latest calls' if estimator == 'auto' else ''}; holdout ROC AUC "
        f"{result.metrics['roc_auc']:.4f}) in {train_seconds:.1f}s"
    )
    with engine.begin() as conn:  # bank-full's own customers make way for the generated ones
        if postgres:
            conn.exec_driver_sql("truncate campaign_contacts, call_outcomes, customers cascade")
        else:
            conn.exec_driver_sql("delete from campaign_contacts")
            conn.exec_driver_sql("delete from customers")
    started = time.perf_counter()
    (load_customers_pg if postgres else load_customers_sqlite)(engine, n, seed)
    log(f"generated and loaded {n:,} customers in {time.perf_counter() - started:.1f}s")
    engine.dispose()
    return train_seconds


def create_pg_database(server_url: str, name: str) -> str:
    from sqlalchemy import create_engine, make_url

    admin = create_engine(make_url(server_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'drop database if exists "{name}" with (force)')
        conn.exec_driver_sql(f'create database "{name}"')
    admin.dispose()
    return (
        make_url(server_url).set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    )


def drop_pg_database(server_url: str, name: str) -> None:
    from sqlalchemy import create_engine, make_url

    admin = create_engine(make_url(server_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'drop database if exists "{name}" with (force)')
    admin.dispose()


def naive_subset(url: str, postgres: bool, server: str, naive_n: int, seed: int, work: Path, name: str) -> str:
    """A database holding the first naive_n customers of the same generated table (the model stays in url's)."""
    from bank_scoring.db import init_db, make_db_engine

    target = create_pg_database(server, name + "_naive") if postgres else f"sqlite:///{work / 'naive.db'}"
    dest = make_db_engine(target)
    init_db(dest)
    (load_customers_pg if postgres else load_customers_sqlite)(dest, naive_n, seed)
    return target
