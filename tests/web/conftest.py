"""Fixtures of the web tests: the support desk example (examples/support_desk.py) on the test's
database, with four tickets in different stages, and an HTTP client for its ASGI app."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import tasquencer as tq
from examples import support_desk


@dataclass
class Desk:
    app: tq.App
    api: tq.WorkflowApi
    web: FastAPI
    client: TestClient
    cases: dict[str, str]  # stage -> workflow id, as support_desk.seed() left them

    def item(self, workflow_id: str, task: str) -> tq.WorkItem:
        """The one open work item of `task`."""
        (item,) = [
            i
            for i in self.api.list_work_items(workflow_id, task_name=task)
            if i.state in ("initialized", "started")
        ]
        return item


def desk_app(path: Path) -> tq.App:
    """The support desk's app on a fresh SQLite file. On the real clock, so each call of the
    seed is a step of its own on the debugger's timeline."""
    return tq.App(f"sqlite:///{path}", auth=support_desk.AUTH)


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    app = desk_app(tmp_path / "desk.db")
    api = support_desk.build(app)
    cases = support_desk.seed(api)
    web = tq.web.create_app(app)
    with TestClient(web) as client:
        yield Desk(app, api, web, client, cases)
    app.close()


def as_user(user_id: str) -> dict[str, str]:
    """The headers of a request by a member of the support desk's staff."""
    return {"X-User": user_id}


ITEMS = "/api/workflows/support_ticket/v1/work-items"
CASES = "/api/workflows/support_ticket/v1/instances"
