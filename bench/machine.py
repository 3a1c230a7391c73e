"""A reference for the machine a bench ran on, printed beside its figures.

The same code runs at different speeds on different hosts of the same kind, so a figure
means little without the host's own speed beside it:

- a fixed CPU job (sorting, hashing and numpy work, nothing of the project) in one
  process, then in one process per core at once: single-core speed and how well the
  cores scale together;
- a plain ``COPY customers TO STDOUT`` (PostgreSQL) or a full read of the table (SQLite):
  what the database and the disk give before any scoring code runs.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import random
import time


def cpu_job(_: int = 0) -> float:
    """A fixed amount of single-threaded work; returns its seconds."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    with threadpool_limits(1):
        rng = random.Random(42)
        values = [rng.random() for _ in range(1_000_000)]
        values.sort()
        digest = hashlib.sha256()
        for i in range(200_000):
            digest.update(i.to_bytes(8, "little"))
        array = np.random.default_rng(42).random(5_000_000)
        np.argsort(array, kind="stable")
    return time.perf_counter() - started


def cpu_reference() -> dict:
    """The job alone, then once in each of as many processes as there are cores (wall time)."""
    cores = os.cpu_count() or 1
    single = min(cpu_job() for _ in range(2))
    context = multiprocessing.get_context("spawn")
    with context.Pool(cores) as pool:
        pool.map(cpu_job, range(cores))  # warm: each process imports numpy once
        started = time.perf_counter()
        pool.map(cpu_job, range(cores))
        parallel = time.perf_counter() - started
    return {"cores": cores, "cpu_job_one_process_s": single, "cpu_job_all_cores_s": parallel}


def read_reference(url: str) -> dict:
    """Rows per second of a plain read of the customers table, with no scoring code."""
    from bank_scoring.db import make_db_engine

    engine = make_db_engine(url)
    started = time.perf_counter()
    rows = size = 0
    try:
        with engine.connect() as conn:
            driver = conn.connection.driver_connection
            if engine.dialect.name == "postgresql":
                with driver.cursor() as cur, cur.copy("copy customers to stdout") as copy:
                    for block in copy:
                        size += len(block)
                        rows += bytes(block).count(b"\n")
            else:
                for row in driver.execute("select * from customers"):
                    rows += 1
                    size += len(row)
    finally:
        engine.dispose()
    seconds = time.perf_counter() - started
    return {"read_rows": rows, "read_s": seconds, "read_rows_per_s": rows / seconds if seconds else 0.0}


def describe(cpu: dict, reads: dict[str, dict]) -> str:
    lines = [
        f"machine reference ({cpu['cores']} cores):",
        f"  fixed CPU job, one process           {cpu['cpu_job_one_process_s']:8.2f}s",
        f"  the same job in {cpu['cores']} processes at once  {cpu['cpu_job_all_cores_s']:8.2f}s (wall)",
    ]
    for label, read in reads.items():
        lines.append(
            f"  plain read of customers, {label:<10} {read['read_s']:8.2f}s "
            f"({read['read_rows']:,} rows, {read['read_rows_per_s']:,.0f} rows/s)"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(describe(cpu_reference(), {}))
