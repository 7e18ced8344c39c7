"""Getting a PostgreSQL server for the tests: start it if it is down, repair what is not as
expected (running as root: trust authentication on loopback, the `test` database), and give
each test session a fresh database.

The machine normally runs PostgreSQL on 127.0.0.1:5432 with trust authentication and a database
`test`. `TASQUENCER_TEST_POSTGRES` overrides the server URL (without database name).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass

import sqlalchemy as sa

SERVER = os.environ.get("TASQUENCER_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432")
LOOPBACK_TRUST = (
    "host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\nlocal all all trust\n"
)


@dataclass
class Server:
    url: str | None  # the session's database, None when no server could be had
    problem: str = ""
    repairs: tuple[str, ...] = ()


def session_database() -> Server:
    """A fresh database for this test session, repairing the server first if needed."""
    repairs: list[str] = []
    problem = _reachable(repairs)
    if problem:
        return Server(None, problem, tuple(repairs))
    name = f"tasquencer_test_{os.getpid()}_{int(time.time())}"
    _admin(f'CREATE DATABASE "{name}"')
    return Server(f"{SERVER}/{name}", "", tuple(repairs))


def drop_database(url: str) -> None:
    name = sa.make_url(url).database
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _reachable(repairs: list[str]) -> str:
    """Empty when the server answers on `test`; otherwise why it does not."""
    for _ in range(3):
        error = _try_connect("test")
        if error is None:
            return ""
        if "does not exist" in error and _try_connect("postgres") is None:
            _admin('CREATE DATABASE "test"')
            repairs.append("created the missing database 'test'")
            continue
        if "password" in error or "authentication" in error:
            if not _trust_loopback(repairs):
                return f"authentication failed and cannot be repaired: {error}"
            continue
        if "refused" in error or "No such file" in error or "could not connect" in error:
            if not _start_server(repairs):
                return f"server down and cannot be started: {error}"
            continue
        return error
    return _try_connect("test") or ""


def _try_connect(database: str) -> str | None:
    engine = sa.create_engine(f"{SERVER}/{database}", connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        return None
    except Exception as error:  # any failure is a reason to repair or skip
        return str(error).splitlines()[0] if str(error) else type(error).__name__
    finally:
        engine.dispose()


def _admin(statement: str) -> None:
    engine = sa.create_engine(f"{SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


def _clusters() -> list[str]:
    return sorted(os.path.basename(p) for p in glob.glob("/etc/postgresql/*"))


def _start_server(repairs: list[str]) -> bool:
    if shutil.which("pg_ctlcluster") is None or not _clusters():
        return False
    version = _clusters()[-1]
    result = subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    for _ in range(50):
        if _try_connect("postgres") is None:
            repairs.append(f"started PostgreSQL {version} ({result.returncode})")
            return True
        time.sleep(0.2)
    return False


def _trust_loopback(repairs: list[str]) -> bool:
    """As root, make loopback connections trusted (the machine's expected setting)."""
    if os.geteuid() != 0 or not _clusters():
        return False
    version = _clusters()[-1]
    hba = f"/etc/postgresql/{version}/main/pg_hba.conf"
    with open(hba) as handle:
        current = handle.read()
    kept = [
        line
        for line in current.splitlines()
        if not re.match(r"^\s*(local|host)\s+all\s+all\s+(127\.0\.0\.1/32|::1/128)?\s*\S+", line)
    ]
    with open(hba, "w") as handle:
        handle.write(LOOPBACK_TRUST + "\n".join(kept) + "\n")
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "reload"],
        capture_output=True,
        timeout=60,
    )
    repairs.append(f"set trust authentication on loopback in {hba}")
    time.sleep(0.5)
    return True
