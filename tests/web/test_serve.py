"""`tasquencer serve --app module:app`: the example app served by uvicorn in a process of its
own, as a user starts it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2

ROOT = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_runs_the_http_api_and_the_debugger_of_an_app_module(tmp_path):
    port = free_port()
    environment = {**os.environ, "SUPPORT_DESK_DATABASE": str(tmp_path / "desk.db")}
    command = [str(Path(sys.executable).parent / "tasquencer"), "serve"]
    command += ["--app", "examples.support_desk:app", "--port", str(port)]
    server = subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, server.stdout.read().decode() if server.stdout else ""
            try:
                page = httpx2.get(f"{url}/debugger", timeout=1)
                break
            except httpx2.TransportError:
                assert time.monotonic() < deadline, "the server did not start in 30 s"
                time.sleep(0.1)
        created = httpx2.post(
            f"{url}/api/workflows/support_ticket/v1/instances",
            json={"subject": "Broken link", "customer": "ada"},
        )

        assert page.status_code == 200 and "Cases" in page.text
        assert created.status_code == 201
        case = httpx2.get(f"{url}/debugger/cases/{created.json()['id']}")
        assert 'data-name="triage" data-state="enabled"' in case.text
        assert httpx2.get(f"{url}/docs").status_code == 200
    finally:
        server.terminate()
        output = server.communicate(timeout=10)[0].decode()
    assert f"http://127.0.0.1:{port}" in output
