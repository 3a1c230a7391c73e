"""The load generator of bench/api_latency.py and what it samples: a minimal keep-alive HTTP/1.1
client, the clients of POST /api and of the agents' calls, run in a spawned process, and the CPU
of the server and of the database sessions over the measured seconds."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import time

HOST = "127.0.0.1"  # where the servers listen and the load generator calls them


class Connection:
    """One keep-alive HTTP/1.1 connection: a request's bytes in, (status, body) out.

    Minimal on purpose, so that the client spends little CPU: answers must carry a
    Content-Length (uvicorn's and Werkzeug's do) or end with the connection.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def call(self, request: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, close = None, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
            elif name == b"transfer-encoding":
                raise ValueError("chunked answers are not read by this client")
        if length is None:
            body, close = await self.reader.read(), True
        else:
            body = await self.reader.readexactly(length)
        if close:
            self.close()
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def http_request(method: str, path: str, port: int, body: bytes = b"", token: str | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}", "Content-Type: application/json"]
    lines.append(f"Content-Length: {len(body)}")
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Tally:
    """What one kind of call saw in the measured seconds: latencies (s), errors and the first of each."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}
        self.first: dict[str, str] = {}

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        self.first.setdefault(kind, detail[:300])

    def as_dict(self) -> dict:
        return {"latencies": self.latencies, "errors": self.errors, "first": self.first}


async def timed(conn: Connection, request: bytes, tally: Tally, measuring: bool) -> tuple[int, bytes] | None:
    """One call, its latency kept when it started inside the measured seconds; None when it failed."""
    began = time.perf_counter()
    try:
        status, body = await conn.call(request)
    except Exception as exc:  # counted and shown: a bench reports, it does not stop at the first
        conn.close()
        if measuring:
            tally.error(type(exc).__name__, str(exc) or type(exc).__name__)
        await asyncio.sleep(0.01)
        return None
    elapsed = time.perf_counter() - began
    if measuring:
        if status == 200:
            tally.latencies.append(elapsed)
        else:
            tally.error(f"HTTP {status}", body.decode(errors="replace").strip()[:300])
    return status, body


async def predict_client(port: int, requests: list[bytes], first: int, window, tally: Tally) -> None:
    conn = Connection(HOST, port)
    i = first
    while (now := time.time()) < window[1]:
        await timed(conn, requests[i % len(requests)], tally, now >= window[0])
        i += 1
    conn.close()


async def agent_client(port: int, token: str, seed: int, window, tallies: dict, counts: dict) -> None:
    from claims_agents import MIX

    mix = [(k, w) for k, w in MIX if k != "release"]  # the API's outcomes; releases are not measured here
    kinds, weights = [k for k, _ in mix], [w for _, w in mix]
    rng = random.Random(seed)
    conn = Connection(HOST, port)
    claim = http_request("POST", "/api/v1/leads/next", port, token=token)
    while (now := time.time()) < window[1]:
        measuring = now >= window[0]
        got = await timed(conn, claim, tallies["next lead"], measuring)
        if got is None or got[0] != 200:
            await asyncio.sleep(0.01)
            continue
        lead = json.loads(got[1])["lead"]
        if lead is None:
            counts["empty"] += measuring
            await asyncio.sleep(0.02)
            continue
        outcome = rng.choices(kinds, weights)[0]
        body = {"outcome": outcome}
        if outcome == "call_back":
            at = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=rng.uniform(20, 180))
            body["callback_at"] = at.isoformat().replace("+00:00", "Z")
        record = http_request(
            "POST", f"/api/v1/leads/{lead['customer_id']}/outcome", port, json.dumps(body).encode(), token
        )
        await timed(conn, record, tallies["record outcome"], time.time() >= window[0])
    conn.close()


async def drive(spec: dict, start: float) -> dict:
    """Run the clients: warm-up from ``start``, then the measured seconds; the client's CPU over those."""
    window = (start + spec["warmup"], start + spec["warmup"] + spec["seconds"])
    cpu = {}

    async def sample_cpu() -> None:
        await asyncio.sleep(max(0.0, window[0] - time.time()))
        cpu["start"] = time.process_time()
        await asyncio.sleep(max(0.0, window[1] - time.time()))
        cpu["end"] = time.process_time()

    await asyncio.sleep(max(0.0, start - time.time()))
    counts = {"empty": 0}
    if spec["kind"] == "predict":
        tallies = {"POST /api": Tally()}
        requests = [http_request("POST", "/api", spec["port"], b, spec["token"]) for b in spec["bodies"]]
        step = max(1, len(requests) // spec["clients"])
        clients = [
            predict_client(spec["port"], requests, i * step, window, tallies["POST /api"])
            for i in range(spec["clients"])
        ]
    else:
        tallies = {"next lead": Tally(), "record outcome": Tally()}
        clients = [
            agent_client(spec["port"], token, spec["seed"] * 1000 + i, window, tallies, counts)
            for i, token in enumerate(spec["tokens"])
        ]
    await asyncio.gather(sample_cpu(), *clients)
    return {
        "calls": {name: t.as_dict() for name, t in tallies.items()},
        "counts": counts,
        "client_cpu_s": cpu["end"] - cpu["start"],
        "window": window,
    }


def load_main(spec: dict, pipe) -> None:
    """The load generator's process: says it is ready, takes the start time, runs, sends what it saw."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        pipe.send("ready")
        start = pipe.recv()
        pipe.send(asyncio.run(drive(spec, start)))
    except BaseException as exc:
        import traceback

        pipe.send({"crashed": f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"})
        raise


def run_load(spec: dict, server_pid: int, db_url: str | None = None) -> dict:
    """The load generator in a spawned process; the server's and the database's CPU over the measured seconds."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    proc = ctx.Process(target=load_main, args=(spec, theirs), daemon=True)
    proc.start()
    try:
        if not ours.poll(120) or ours.recv() != "ready":
            raise SystemExit("the load generator did not start")
        start = time.time() + 0.2
        ours.send(start)
        window = (start + spec["warmup"], start + spec["warmup"] + spec["seconds"])
        time.sleep(max(0.0, window[0] - time.time()))
        before, db_before = server_cpu(server_pid), database_sample(db_url)
        time.sleep(max(0.0, window[1] - time.time()))
        after, db_after = server_cpu(server_pid), database_sample(db_url)
        if not ours.poll(spec["seconds"] + 120):
            raise SystemExit("the load generator did not report")
        found = ours.recv()
        if "crashed" in found:
            raise SystemExit(f"the load generator crashed:\n{found['crashed']}")
        found["server_cpu_s"] = None if before is None or after is None else after - before
        found["database_cpu_s"] = found["sessions"] = None
        if db_before is not None and db_after is not None:
            cpu = db_after["cpu"].items()
            found["database_cpu_s"] = sum(seconds - db_before["cpu"].get(pid, 0.0) for pid, seconds in cpu)
            found["sessions"] = db_after["sessions"] - db_before["sessions"] - 1  # less the sampler's own
            if found["sessions"]:  # sessions that opened and closed in between are not in the sum
                found["database_cpu_s"] = None
        found["load"] = os.getloadavg()[0]
        proc.join(timeout=30)
        return found
    finally:
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout=10)


def server_cpu(pid: int) -> float | None:
    """CPU seconds of a server process and its children so far (None without psutil)."""
    try:
        import psutil
    except ImportError:
        return None
    try:
        proc = psutil.Process(pid)
        total = sum(proc.cpu_times()[:2])
        for child in proc.children(recursive=True):
            try:
                total += sum(child.cpu_times()[:2])
            except psutil.NoSuchProcess:
                pass
        return total
    except psutil.NoSuchProcess:
        return None


def database_sample(url: str | None) -> dict | None:
    """``cpu``: CPU seconds so far of each PostgreSQL backend on ``url``'s database (a server on
    this host), by pid; ``sessions``: sessions opened on it so far (pg_stat_database).

    A backend that starts during the measured seconds counts from zero, one that starts and
    ends within them is missed (``sessions`` shows them); None on SQLite, on another host or
    without psutil.
    """
    from sqlalchemy import make_url

    if url is None or not url.startswith("postgresql") or make_url(url).host not in (None, "", "localhost", HOST):
        return None
    try:
        import psutil
    except ImportError:
        return None
    from bank_scoring.db import make_db_engine

    engine = make_db_engine(url)
    try:
        with engine.connect() as conn:
            pids = conn.exec_driver_sql(
                "select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()"
            ).scalars()
            pids = list(pids)
            sessions = conn.exec_driver_sql(
                "select sessions from pg_stat_database where datname = current_database()"
            ).scalar_one()
    finally:
        engine.dispose()
    found = {}
    for pid in pids:
        try:
            found[pid] = sum(psutil.Process(pid).cpu_times()[:2])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return {"cpu": found, "sessions": int(sessions)}
