"""The HTTP API of `tq.web.create_app`: routes for the public actions, bodies validated by the
actions' models, reads, jobs and functions, and errors as problem documents that change nothing."""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pydantic
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

import tasquencer as tq
from examples import support_desk
from tasquencer import Builder
from tests.web.conftest import CASES, ITEMS, Desk, as_user

ADA = as_user("ada")  # support: she may triage


def snapshot_of(desk: Desk, workflow_id: str) -> tq.WorkflowSnapshot:
    return desk.api.get_workflow_snapshot(workflow_id)


def assert_problem(response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert set(body) == {"type", "title", "status", "detail"}
    for word in words:
        assert word in body["detail"], body["detail"]


# --- routes ------------------------------------------------------------------------------------


def test_each_public_action_has_a_route_and_default_actions_have_none(desk: Desk):
    paths = desk.client.get("/openapi.json").json()["paths"]
    item_routes = sorted(p.removeprefix(ITEMS) for p in paths if p.startswith(ITEMS))

    assert item_routes == sorted(
        f"/{where}/{{work_item_id}}/{action}"
        for where in (
            "triage/triage",
            "answer/answer",
            "keep_informed/keep_informed",
            "resolve/resolve",
            "withdraw/withdraw",
            "investigate/investigation/reproduce/reproduce",
            "investigate/investigation/fix/fix",
        )
        for action in ("start", "complete")
    )
    # The case's initialize action is custom; its cancel is the default one: internal only.
    assert set(paths[CASES]) == {"get", "post"}
    assert not any(path.endswith("/cancel") for path in paths)


def test_request_bodies_are_documented_by_the_actions_models(desk: Desk):
    document = desk.client.get("/openapi.json").json()
    operation = document["paths"][f"{ITEMS}/triage/triage/{{work_item_id}}/complete"]["post"]
    reference = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][reference.rsplit("/", 1)[-1]]

    assert schema["properties"]["severity"]["enum"] == ["low", "high"]
    assert schema["required"] == ["severity"]
    assert operation["requestBody"]["required"] is True
    start = document["paths"][f"{ITEMS}/triage/triage/{{work_item_id}}/start"]["post"]
    assert "requestBody" not in start  # its schema is None: it takes no payload


def test_a_workflow_with_only_default_actions_has_read_routes_only(app: tq.App):
    item = Builder.work_item("step")
    flow = (
        Builder.workflow("internal_only")
        .start_condition("start")
        .end_condition("end")
        .task("step", Builder.task(item))
        .connect_condition("start", lambda to: to.task("step"))
        .connect_task("step", lambda to: to.condition("end"))
    )
    app.register(tq.versions("internal_only").version("v1", flow))

    paths = TestClient(tq.web.create_app(app)).get("/openapi.json").json()["paths"]

    mine = {p: set(ops) for p, ops in paths.items() if "/internal_only/" in p}
    assert mine == {
        "/api/workflows/internal_only/v1/instances": {"get"},
        "/api/workflows/internal_only/v1/structure": {"get"},
    }


def test_create_app_refuses_what_is_not_an_app():
    with pytest.raises(TypeError, match=r"tq\.App"):
        tq.web.create_app("sqlite:///x.db")  # type: ignore[arg-type]


def test_create_app_refuses_a_setting_that_is_not_a_bool(app: tq.App):
    with pytest.raises(TypeError, match="sqlite_writes_on_loop is True or False, got str"):
        tq.web.create_app(app, sqlite_writes_on_loop="no")  # type: ignore[arg-type]


# --- actions -----------------------------------------------------------------------------------


def test_a_case_is_opened_and_worked_through_over_http(desk: Desk):
    client = desk.client
    created = client.post(CASES, json={"subject": "Printer on fire", "customer": "kay"})
    assert created.status_code == 201
    case = created.json()["id"]

    triage = desk.item(case, "triage")
    start = client.post(f"{ITEMS}/triage/triage/{triage.id}/start", headers=ADA)
    assert (start.status_code, start.json()) == (200, [])  # a start creates nothing here
    done = client.post(
        f"{ITEMS}/triage/triage/{triage.id}/complete", json={"severity": "low"}, headers=ADA
    )
    assert done.status_code == 200
    answer = desk.item(case, "answer")
    # the completion answers the work items it created, as the API records them
    created = {item["id"]: item for item in done.json()}
    assert answer.id in created
    recorded = [dataclasses.asdict(i) for i in desk.api.list_work_items(case) if i.id in created]
    assert recorded == list(created.values())
    client.post(f"{ITEMS}/answer/answer/{answer.id}/start")
    client.post(f"{ITEMS}/answer/answer/{answer.id}/complete", json={"text": "Unplug it."})

    snapshot = client.get(f"/api/instances/{case}").json()
    assert snapshot["state"] == "completed"
    assert snapshot["tasks"]["answer"]["state"] == "completed"
    assert snapshot["tasks"]["withdraw"]["state"] == "canceled"
    with Session(desk.app.engine) as session:
        ticket = session.get(support_desk.Ticket, case)
        assert ticket is not None
        assert (ticket.status, ticket.answer) == ("closed", "Unplug it.")


@pytest.mark.parametrize(
    "content_type",
    # the first takes the action routes' short path, the second FastAPI's own handling
    ["application/json", "application/json; charset=utf-8"],
)
def test_an_action_answers_the_same_on_either_path(desk: Desk, content_type: str):
    client = desk.client

    def post(path: str, body: object, **headers: str) -> Any:
        content = json.dumps(body).encode()
        return client.post(path, content=content, headers={"content-type": content_type, **headers})

    created = post(CASES, {"subject": "Paper jam", "customer": "kay"})
    assert created.status_code == 201 and set(created.json()) == {"id"}
    case = created.json()["id"]
    triage = desk.item(case, "triage")
    client.post(f"{ITEMS}/triage/triage/{triage.id}/start", headers=ADA)
    before = snapshot_of(desk, case)
    refused = post(f"{ITEMS}/triage/triage/{triage.id}/complete", {"severity": "urgent"}, **ADA)
    assert_problem(refused, 422, "body.severity")
    assert snapshot_of(desk, case) == before
    done = post(f"{ITEMS}/triage/triage/{triage.id}/complete", {"severity": "high"}, **ADA)
    assert done.status_code == 200 and done.json()  # the work items it created
    assert desk.api.get_work_item_state(triage.id) == "completed"


def test_an_action_that_would_wait_for_another_writer_waits_in_a_thread(desk: Desk, tmp_path):
    triage = desk.item(desk.cases["new"], "triage")
    desk.api.start_work_item(triage.id, user=support_desk.STAFF["ada"])
    other = sqlite3.connect(tmp_path / "desk.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process writing: the call cannot run on the loop
    answers: list[Any] = []
    where = f"{ITEMS}/triage/triage/{triage.id}/complete"
    sender = threading.Thread(
        target=lambda: answers.append(
            desk.client.post(where, json={"severity": "low"}, headers=ADA)
        )
    )
    try:
        sender.start()
        sender.join(0.5)
        assert answers == [] and desk.client.get("/api/me", headers=ADA).status_code == 200
    finally:
        other.rollback()  # the writer is done: the waiting call goes on
        other.close()
        sender.join(30)
    assert answers[0].status_code == 200, answers[0].text
    assert desk.api.get_work_item_state(triage.id) == "completed"


def test_a_child_workflows_work_items_have_their_nested_routes(desk: Desk):
    case = desk.cases["escalated"]
    (child,) = desk.client.get(f"/api/instances/{case}/children").json()
    fix = desk.item(child["id"], "fix")
    where = f"{ITEMS}/investigate/investigation/fix/fix/{fix.id}"

    assert desk.client.post(f"{where}/start").json() == []
    assert desk.client.post(f"{where}/complete", json={"note": "patched"}).status_code == 200

    assert desk.api.get_workflow_state(child["id"]) == "completed"
    assert desk.api.get_workflow_task_states(case)["investigate"] == "completed"


def test_reads_of_an_instance(desk: Desk):
    case = desk.cases["escalated"]
    client = desk.client

    items = client.get(f"/api/instances/{case}/work-items", params={"state": "initialized"})
    children = client.get(f"/api/instances/{case}/children", params={"task_name": "investigate"})
    structure = client.get("/api/workflows/support_ticket/v1/structure").json()

    assert client.get(f"/api/instances/{case}/state").json() == {"state": "started"}
    assert sorted(i["task_name"] for i in items.json()) == ["keep_informed", "withdraw"]
    assert [c["name"] for c in children.json()] == ["investigation"]
    assert {t["name"] for t in structure["tasks"]} >= {"triage", "investigate", "withdraw"}
    listed = client.get(CASES, params={"state": "completed"}).json()
    assert {c["id"] for c in listed} == {desk.cases["answered"], desk.cases["withdrawn"]}


def test_jobs_are_listed_for_operators(app: tq.App):
    @app.mutation(name="remind")
    def remind(ctx: tq.MutationContext, who: str) -> None:
        ctx.scheduler.run_after(60, "remind_later", who=who)

    @app.mutation(name="remind_later", internal=True)
    def remind_later(ctx: tq.MutationContext, who: str) -> None:
        pass

    app.run_mutation("remind", who="ada")
    client = TestClient(tq.web.create_app(app))

    (job,) = client.get("/api/jobs", params={"state": "pending"}).json()
    assert (job["function"], job["args"], job["state"]) == (
        "remind_later",
        {"who": "ada"},
        "pending",
    )
    assert_problem(client.get("/api/jobs", params={"state": "sleeping"}), 422, "state")


# --- functions ---------------------------------------------------------------------------------


class Greeting(pydantic.BaseModel):
    text: str


@pytest.fixture
def functions(app: tq.App) -> TestClient:
    @app.mutation(name="greet")
    def greet(ctx: tq.MutationContext, name: str) -> str:
        return f"hello {name}"

    @app.query(name="count")
    def count(ctx: tq.QueryContext) -> int:
        return 3

    @app.mutation(name="secret", internal=True)
    def secret(ctx: tq.MutationContext) -> str:
        return "internal"

    return TestClient(tq.web.create_app(app))


def test_public_functions_are_routed_and_internal_ones_are_not(functions: TestClient):
    paths = functions.get("/openapi.json").json()["paths"]

    greeted = functions.post("/api/functions/greet", json={"name": "ada"})
    counted = functions.post("/api/functions/count")

    assert (greeted.status_code, greeted.json()) == (200, {"result": "hello ada"})
    assert counted.json() == {"result": 3}
    assert "/api/functions/secret" not in paths
    assert functions.post("/api/functions/secret", json={}).status_code == 404


@pytest.mark.parametrize("reserved", ["ctx", "internal", "user"])
def test_a_function_call_cannot_set_what_the_engine_decides(functions: TestClient, reserved):
    response = functions.post("/api/functions/greet", json={"name": "ada", reserved: True})

    assert_problem(response, 422, reserved)


def test_a_function_called_with_wrong_arguments_is_a_422(functions: TestClient):
    assert_problem(functions.post("/api/functions/greet", json={"nom": "ada"}), 422, "name")
    assert_problem(functions.post("/api/functions/greet", json={"name": 3}), 422, "name")
    assert_problem(functions.post("/api/functions/greet", json=["ada"]), 422)
    assert_problem(functions.post("/api/functions/greet"), 422, "body")


def test_a_functions_arguments_are_documented_from_its_signature(functions: TestClient):
    document = functions.get("/openapi.json").json()
    operation = document["paths"]["/api/functions/greet"]["post"]
    reference = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][reference.rsplit("/", 1)[-1]]

    assert schema["properties"] == {"name": {"title": "Name", "type": "string"}}
    assert schema["required"] == ["name"]
    assert schema["additionalProperties"] is False


# --- errors ------------------------------------------------------------------------------------


def test_an_invalid_payload_is_a_422_naming_the_field_and_changes_nothing(desk: Desk):
    case = desk.cases["new"]
    triage = desk.item(case, "triage")
    desk.api.start_work_item(triage.id, user=support_desk.STAFF["ada"])
    before = snapshot_of(desk, case)

    response = desk.client.post(
        f"{ITEMS}/triage/triage/{triage.id}/complete", json={"severity": "urgent"}, headers=ADA
    )

    assert_problem(response, 422, "severity")
    assert snapshot_of(desk, case) == before


@pytest.mark.parametrize("body", [None, [], "low", {"severity": None}, {}])
def test_a_missing_or_malformed_body_is_a_422(desk: Desk, body):
    triage = desk.item(desk.cases["new"], "triage")
    before = snapshot_of(desk, desk.cases["new"])

    response = desk.client.post(f"{ITEMS}/triage/triage/{triage.id}/complete", json=body)

    assert_problem(response, 422)
    assert snapshot_of(desk, desk.cases["new"]) == before


def test_a_body_that_is_not_json_is_a_422(desk: Desk):
    triage = desk.item(desk.cases["new"], "triage")

    response = desk.client.post(
        f"{ITEMS}/triage/triage/{triage.id}/complete",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )

    assert_problem(response, 422)


def test_an_action_in_the_wrong_state_is_a_409_and_changes_nothing(desk: Desk):
    case = desk.cases["new"]
    triage = desk.item(case, "triage")  # initialized, not started
    before = snapshot_of(desk, case)

    response = desk.client.post(
        f"{ITEMS}/triage/triage/{triage.id}/complete", json={"severity": "low"}, headers=ADA
    )

    assert_problem(response, 409, triage.id)
    assert snapshot_of(desk, case) == before


def test_a_closed_case_refuses_further_work_with_a_409(desk: Desk):
    (answered,) = desk.api.list_work_items(desk.cases["answered"], task_name="answer")

    response = desk.client.post(f"{ITEMS}/answer/answer/{answered.id}/start")

    assert_problem(response, 409)


@pytest.mark.parametrize(
    "path",
    [
        "/api/instances/01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "/api/instances/nope/work-items",
        "/api/instances/%F0%9F%92%A5/children",
        f"{ITEMS}/triage/triage/01ARZ3NDEKTSV4RRFFQ69G5FAV/start",
        f"{ITEMS}/triage/triage/{'x' * 5000}/start",
        "/api/workflows/support_ticket/v9/instances",
        "/api/functions/nothing",
    ],
)
def test_what_does_not_exist_is_a_404(desk: Desk, path: str):
    method = desk.client.post if path.endswith("start") or "functions" in path else desk.client.get

    response = method(path)

    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_a_work_item_addressed_through_another_tasks_route_is_a_404(desk: Desk):
    case = desk.cases["new"]
    withdraw = desk.item(case, "withdraw")
    before = snapshot_of(desk, case)

    response = desk.client.post(f"{ITEMS}/triage/triage/{withdraw.id}/start")

    assert_problem(response, 404, withdraw.id, "withdraw")
    assert snapshot_of(desk, case) == before


def test_a_work_item_an_answer_named_is_still_refused_through_another_tasks_route(desk: Desk):
    case = desk.cases["new"]
    triage = desk.item(case, "triage")
    desk.client.post(f"{ITEMS}/triage/triage/{triage.id}/start", headers=ADA)
    done = desk.client.post(
        f"{ITEMS}/triage/triage/{triage.id}/complete", json={"severity": "low"}, headers=ADA
    )
    (answer,) = [item for item in done.json() if item["name"] == "answer"]
    before = snapshot_of(desk, case)

    wrong = desk.client.post(f"{ITEMS}/withdraw/withdraw/{answer['id']}/start")

    assert_problem(wrong, 404, answer["id"], "answer")
    assert snapshot_of(desk, case) == before
    assert desk.client.post(f"{ITEMS}/answer/answer/{answer['id']}/start").status_code == 200


def test_a_state_filter_that_is_no_state_is_a_422(desk: Desk):
    assert_problem(desk.client.get(CASES, params={"state": "asleep"}), 422, "state")
    case = desk.cases["new"]
    work_items = desk.client.get(f"/api/instances/{case}/work-items", params={"state": "?"})
    assert_problem(work_items, 422, "state")


def test_a_failing_activity_is_a_500_without_its_details(app: tq.App):
    def explode(ctx: tq.WorkItemActionContext, payload: None) -> None:
        raise RuntimeError("the secret connection string")

    item = Builder.work_item("step").with_actions(Builder.work_item_actions().start(None, explode))
    flow = (
        Builder.workflow("fragile")
        .start_condition("start")
        .end_condition("end")
        .task(
            "step",
            Builder.task(item).with_activities(on_enabled=lambda ctx: ctx.work_item.initialize()),
        )
        .connect_condition("start", lambda to: to.task("step"))
        .connect_task("step", lambda to: to.condition("end"))
    )
    api = app.register(tq.versions("fragile").version("v1", flow)).api("v1")
    case = api.internal_initialize_root_workflow()
    (step,) = api.list_work_items(case)
    client = TestClient(tq.web.create_app(app), raise_server_exceptions=False)

    response = client.post(f"/api/workflows/fragile/v1/work-items/step/step/{step.id}/start")

    assert response.status_code == 500
    assert "secret" not in response.text
    assert api.get_work_item_state(step.id) == "initialized"


def test_a_call_that_kept_losing_conflicts_is_a_503_to_retry(app: tq.App):
    @app.mutation(name="contended")
    def contended(ctx: tq.MutationContext) -> None:
        raise tq.ConflictRetriesExhaustedError(12)

    response = TestClient(tq.web.create_app(app)).post("/api/functions/contended")

    assert_problem(response, 503, "retried")
    assert response.headers["retry-after"] == "1"


# --- mounting ----------------------------------------------------------------------------------


def test_the_app_can_be_mounted_into_the_users_own(desk: Desk):
    main = FastAPI()
    main.mount("/workflows", desk.web)
    client = TestClient(main)

    page = client.get("/workflows/debugger")
    snapshot = client.get(f"/workflows/api/instances/{desk.cases['new']}")
    docs = client.get("/workflows/docs")

    assert page.status_code == 200
    assert f'href="http://testserver/workflows/debugger/cases/{desk.cases["new"]}"' in page.text
    assert snapshot.json()["id"] == desk.cases["new"]
    assert "/workflows/static-offline-docs/swagger-ui-bundle.js" in docs.text
    assert client.get("/workflows/static-offline-docs/swagger-ui-bundle.js").status_code == 200


@pytest.mark.parametrize(
    "route",
    [
        "/api/jobs?function=",
        "/api/instances/{case}/work-items?task_name=",
        "/api/queues/available?task_name=",
    ],
)
def test_a_name_the_engine_cannot_store_is_refused_by_the_schema(desk: Desk, route: str):
    url = route.format(case=desk.cases["new"])

    response = desk.client.get(url + "a%00b", headers=ADA)
    too_long = desk.client.get(url + "x" * 201, headers=ADA)

    assert_problem(response, 422)
    assert_problem(too_long, 422)
    document = desk.client.get("/openapi.json").json()
    path = route.split("?")[0].replace("{case}", "{workflow_id}")
    (parameter,) = [
        p
        for p in document["paths"][path]["get"]["parameters"]
        if p["name"] == route.split("?")[1][:-1]
    ]
    assert "pattern" in str(parameter["schema"]), parameter


def test_operation_ids_are_unique_and_the_same_in_every_process(desk: Desk):
    def operation_ids() -> list[str]:
        document = desk.client.get("/openapi.json").json()
        return [op["operationId"] for item in document["paths"].values() for op in item.values()]

    mine = operation_ids()
    assert len(mine) == len(set(mine))
    other = subprocess.run(
        [sys.executable, "-c", OPERATION_IDS],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
        cwd=Path(__file__).resolve().parents[2],
    )
    assert json.loads(other.stdout) == mine


OPERATION_IDS = """
import json, tempfile
from pathlib import Path
from fastapi.testclient import TestClient
import tasquencer as tq
from examples import support_desk
from tests.web.conftest import desk_app
app = desk_app(Path(tempfile.mkdtemp()) / "desk.db")
support_desk.build(app)
paths = TestClient(tq.web.create_app(app)).get("/openapi.json").json()["paths"]
print(json.dumps([op["operationId"] for item in paths.values() for op in item.values()]))
"""
