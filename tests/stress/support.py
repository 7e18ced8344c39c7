"""What the stress tests share: a fresh PostgreSQL schema, real processes, waiting.

Every process a stress test starts is a child of the test, on loopback only, and is killed
when the test ends, whatever happens. The schema is passed to the children in a URL whose
`options=-csearch_path=...` query makes every connection see only that schema.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
TASQUENCER = Path(sys.executable).with_name("tasquencer")
URL_ENV = "STRESS_DB_URL"
WORKER_READY = "worker(s) running jobs of"


@contextlib.contextmanager
def fresh_schema(postgres_url: str) -> Iterator[str]:
    """A new schema in the session's database; yields a URL scoped to it, drops it after."""
    schema = f"tq_stress_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        scoped = sa.make_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield scoped.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


class Processes:
    """Child processes of one test, each logging to its own file; all killed at the end."""

    def __init__(self, logs: Path, env: dict[str, str]) -> None:
        self.logs = logs
        self.env = {**os.environ, **env}
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, command: Sequence[str], **env: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        try:
            process = subprocess.Popen(
                list(command),
                cwd=ROOT,
                env={**self.env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            log.close()
        self.started.append((name, process))
        return process

    def output(self, names: Sequence[str] | None = None, tail: int = 60) -> str:
        chosen = [n for n, _ in self.started] if names is None else list(names)
        parts = []
        for name in chosen:
            path = self.logs / f"{name}.log"
            lines = path.read_text(errors="replace").splitlines() if path.exists() else []
            parts.append(f"--- {name}\n" + "\n".join(lines[-tail:]))
        return "\n".join(parts)

    def wait_for_output(
        self, process: subprocess.Popen[bytes], needle: str, timeout: float = 60
    ) -> None:
        """Until the process's log holds `needle` (a worker says it runs once its signal
        handlers are in place: a SIGTERM before that kills it instead of stopping it)."""
        (name,) = [n for n, p in self.started if p is process]
        log = self.logs / f"{name}.log"
        deadline = time.monotonic() + timeout
        while needle not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{name} never printed {needle!r}\n" + self.output([name]))
            time.sleep(0.05)

    def logs_containing(self, needle: str) -> list[str]:
        return [
            name
            for name, _ in self.started
            if needle in (self.logs / f"{name}.log").read_text(errors="replace")
        ]

    def kill_all(self) -> None:
        for _, process in self.started:
            if process.poll() is None:
                process.kill()
        for _, process in self.started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)


def sigkill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGKILL)
    process.wait(10)


def terminate(process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """SIGTERM (a worker finishes the job in hand, then exits); returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    return process.wait(timeout)
