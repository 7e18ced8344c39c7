"""Work item completions over HTTP against completions in process, in one run, on SQLite.

    .venv/bin/python benchmarks/http_api.py             # n=2000 per side, 3 rounds
    .venv/bin/python benchmarks/http_api.py --quick     # seconds (the smoke test)

Per round, on fresh SQLite files holding the same n cases (each with one started work item):
`api.complete_work_item(id, payload)` called n times in this process, and
`POST /api/workflows/bench/v1/work-items/step/step/{id}/complete` sent n times to
`tq.web.create_app` served by uvicorn in one worker process of its own (no access log),
first from one client on a kept-alive connection, then from several clients at once; and, for
scale, the same POST to a bare ASGI application (no framework: it reads the body and runs the
same call in a thread) under the same uvicorn, the least any ASGI application can cost. The
clients are the stdlib's `http.client` (the cheapest Python client: about 0.15 ms of CPU a
request, where httpx spends 0.7 ms, which on a 2-CPU machine is time taken from the server).
Reported: completions per second, latency p50/p99, the CPU per completion of the process doing
the work, and the HTTP rate as a share of the in-process rate (goal: at least 60%). SQLite in
the default durable mode (WAL, synchronous=FULL).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx2
import pydantic
from fastapi import FastAPI

import tasquencer as tq
from tasquencer import Builder

ROUTE = "/api/workflows/bench/v1/work-items/step/step/{id}/complete"


class Outcome(pydantic.BaseModel):
    ok: bool


def finish(ctx: tq.WorkItemActionContext, outcome: Outcome) -> None:
    ctx.work_item.complete()


def start(ctx: tq.WorkItemActivityContext) -> None:
    ctx.work_item.start()


def one_item(ctx: tq.TaskActivityContext) -> None:
    ctx.work_item.initialize()


step = (
    Builder.work_item("step")
    .with_actions(Builder.work_item_actions().complete(Outcome, finish))
    .with_activities(on_initialized=start)
)
bench = (
    Builder.workflow("bench")
    .start_condition("start")
    .end_condition("end")
    .task("step", Builder.task(step).with_activities(on_enabled=one_item))
    .connect_condition("start", lambda to: to.task("step"))
    .connect_task("step", lambda to: to.condition("end"))
)


def open_app(path: Path) -> tuple[tq.App, tq.WorkflowApi]:
    app = tq.App(f"sqlite:///{path}")
    return app, app.register(tq.versions("bench").version("v1", bench)).api("v1")


def served() -> FastAPI:
    """The server process's application (uvicorn --factory): the benchmark's database."""
    app, _ = open_app(Path(os.environ["BENCH_DATABASE"]))
    return tq.web.create_app(app, sqlite_writes_on_loop=os.environ["BENCH_ON_LOOP"] == "1")


def bare() -> Any:
    """The bare ASGI application (uvicorn --factory): the completion and nothing else."""
    import anyio.to_thread

    _, api = open_app(Path(os.environ["BENCH_DATABASE"]))

    async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if scope["method"] == "POST":
            item_id = scope["path"].rsplit("/", 2)[1]
            await anyio.to_thread.run_sync(api.complete_work_item, item_id, json.loads(body))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return application


def seeded(path: Path, n: int) -> list[str]:
    """n cases on a new database; the ids of their started work items."""
    app, api = open_app(path)
    try:
        ids = []
        for _ in range(n):
            case = api.internal_initialize_root_workflow()
            (item,) = api.list_work_items(case)
            ids.append(item.id)
        return ids
    finally:
        app.close()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def in_process(path: Path, ids: list[str]) -> dict[str, float]:
    app, api = open_app(path)
    try:
        latencies = []
        began, cpu = time.perf_counter(), time.process_time()
        for item_id in ids:
            t0 = time.perf_counter()
            api.complete_work_item(item_id, {"ok": True})
            latencies.append(time.perf_counter() - t0)
        elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
        assert all(api.get_work_item_state(i) == "completed" for i in ids)
    finally:
        app.close()
    return summary(len(ids), elapsed, latencies, cpu)


def over_http(server: Server, ids: list[str], clients: int) -> dict[str, float]:
    shares = [ids[i::clients] for i in range(clients)]
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures: list[str] = []

    body = json.dumps({"ok": True}).encode()
    headers = {"content-type": "application/json"}

    def client(share: list[str], mine: list[float]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            for item_id in share:
                t0 = time.perf_counter()
                connection.request("POST", ROUTE.format(id=item_id), body, headers)
                response = connection.getresponse()
                text = response.read()
                mine.append(time.perf_counter() - t0)
                if response.status not in (200, 204):  # tq.web answers the created items
                    failures.append(f"{response.status} {text[:200]!r}")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=client, args=(share, mine))
        for share, mine in zip(shares, latencies, strict=True)
    ]
    began, cpu = time.perf_counter(), server.cpu_seconds()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed, cpu = time.perf_counter() - began, server.cpu_seconds() - cpu
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, the first: {failures[0]}")
    return summary(len(ids), elapsed, [x for mine in latencies for x in mine], cpu)


def summary(n: int, elapsed: float, latencies: list[float], cpu: float) -> dict[str, float]:
    return {
        "per_second": n / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": pct(latencies, 0.99) * 1000,
        "cpu_ms": cpu / n * 1000,  # of the process doing the work (the server's, over HTTP)
    }


class Server:
    """uvicorn in a process of its own, one worker, serving `served()` on a free port."""

    def __init__(self, database: Path, factory: str, on_loop: bool) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "uvicorn", "--factory", f"http_api:{factory}"]
        command += ["--app-dir", str(Path(__file__).parent), "--port", str(self.port)]
        command += ["--workers", "1", "--no-access-log", "--log-level", "warning"]
        environment = {
            **os.environ,
            "BENCH_DATABASE": str(database),
            "BENCH_ON_LOOP": "1" if on_loop else "0",
        }
        self.process = subprocess.Popen(command, env=environment)

    def cpu_seconds(self) -> float:
        """The server process's CPU time so far (user and system, from /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> Server:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}")
            try:
                httpx2.get(f"{self.url}/openapi.json", timeout=1)
                return self
            except httpx2.TransportError:
                time.sleep(0.05)
        raise RuntimeError("the server did not start within 30 s")

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(10)


def round_(folder: Path, n: int, clients: int, on_loop: bool) -> dict[str, Any]:
    local = folder / "in_process.db"
    local_ids = seeded(local, n)
    results: dict[str, Any] = {"in_process": in_process(local, local_ids)}
    sides = [("served", "http_1_client", 1), ("served", f"http_{clients}_clients", clients)]
    sides.append(("bare", "bare_asgi_1_client", 1))
    for factory, label, count in sides:
        remote = folder / f"{label}.db"
        remote_ids = seeded(remote, n)
        with Server(remote, factory, on_loop) as server:
            results[label] = over_http(server, remote_ids, count)
        app, api = open_app(remote)
        try:
            assert all(api.get_work_item_state(i) == "completed" for i in remote_ids)
        finally:
            app.close()
    return results


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="completions per side and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4, help="clients at once, second run")
    parser.add_argument("--quick", action="store_true", help="a few completions, one round")
    parser.add_argument(
        "--writes-in-threads",
        action="store_true",
        help="serve with sqlite_writes_on_loop=False: every call in a worker thread",
    )
    options = parser.parse_args(argv)
    n, rounds = (50, 1) if options.quick else (options.n, options.rounds)
    results = []
    for number in range(1, rounds + 1):
        with tempfile.TemporaryDirectory(prefix="tq-http-bench-") as folder:
            result = round_(Path(folder), n, options.clients, not options.writes_in_threads)
        base = result["in_process"]["per_second"]
        print(f"round {number}: n={n}")
        for label, figures in result.items():
            share = figures["per_second"] / base
            print(
                f"  {label:>18}: {figures['per_second']:7.0f}/s ({share:4.0%})"
                f"  p50 {figures['p50_ms']:6.2f} ms  p99 {figures['p99_ms']:6.2f} ms"
                f"  CPU {figures['cpu_ms']:5.2f} ms per completion"
            )
        results.append(result)
    return results


if __name__ == "__main__":
    main()
