"""Fixtures of the web tests: the support desk example (examples/support_desk.py) on the test's
database, with four tickets in different stages, and an HTTP client for its ASGI app."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

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


@pytest.fixture
def desk(app: tq.App) -> Iterator[Desk]:
    api = support_desk.build(app)
    cases = support_desk.seed(api)
    web = tq.web.create_app(app)
    with TestClient(web) as client:
        yield Desk(app, api, web, client, cases)


ITEMS = "/api/workflows/support_ticket/v1/work-items"
CASES = "/api/workflows/support_ticket/v1/instances"
