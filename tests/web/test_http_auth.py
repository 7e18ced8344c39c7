"""Who calls over HTTP: the app's user provider reads the request; policies answer 401 to
nobody and 403 to the wrong person; work queues and claims are the calling user's. Every
refusal changes nothing."""

from __future__ import annotations

import pydantic
import pytest
from fastapi.testclient import TestClient

import tasquencer as tq
from examples import support_desk
from tasquencer import Builder
from tasquencer.builder import WorkflowBuilder
from tests.web.conftest import ITEMS, Desk, as_user
from tests.web.test_http_api import assert_problem

ADA, GRACE, LINUS, SCRIBE = (as_user(name) for name in ("ada", "grace", "linus", "scribe"))


def triage_route(desk: Desk, action: str) -> tuple[str, str]:
    """The new case's triage work item and the route of `action` on it."""
    triage = desk.item(desk.cases["new"], "triage")
    return triage.id, f"{ITEMS}/triage/triage/{triage.id}/{action}"


def test_who_am_i(desk: Desk):
    assert desk.client.get("/api/me", headers=SCRIBE).json() == {
        "id": "scribe",
        "name": "Scribe (an AI agent)",
        "is_agent": True,
    }
    assert_problem(desk.client.get("/api/me"), 401, "signed in")
    assert_problem(desk.client.get("/api/me", headers=as_user("mallory")), 401)


@pytest.mark.parametrize(("headers", "status"), [({}, 401), (LINUS, 403)])
def test_a_guarded_action_is_refused_to_nobody_and_to_the_wrong_person(
    desk: Desk, headers: dict[str, str], status: int
):
    before = desk.api.get_workflow_snapshot(desk.cases["new"])
    _, start = triage_route(desk, "start")

    response = desk.client.post(start, headers=headers)

    assert_problem(response, status, "desk:triage" if status == 403 else "")
    assert desk.api.get_workflow_snapshot(desk.cases["new"]) == before
    assert desk.app.queues.claimed_by(support_desk.STAFF["ada"]) == []


def test_a_start_by_a_user_claims_the_work_item_and_keeps_others_out(desk: Desk):
    item_id, start = triage_route(desk, "start")

    assert desk.client.post(start, headers=ADA).status_code == 200

    (mine,) = desk.client.get("/api/queues/claimed", headers=ADA).json()
    assert (mine["work_item_id"], mine["claimed_by"]) == (item_id, "ada")
    before = desk.api.get_workflow_snapshot(desk.cases["new"])
    _, complete = triage_route(desk, "complete")
    response = desk.client.post(complete, json={"severity": "low"}, headers=GRACE)
    assert_problem(response, 409, "claimed by 'ada'")
    assert desk.api.get_workflow_snapshot(desk.cases["new"]) == before


def test_the_queue_of_a_user_holds_what_is_offered_to_them(desk: Desk):
    ada = desk.client.get("/api/queues/available", headers=ADA).json()
    linus = desk.client.get("/api/queues/available", headers=LINUS).json()
    agents = desk.client.get("/api/queues/agents", headers=SCRIBE).json()

    assert {(e["task_name"], e["title"]) for e in ada} == {
        ("triage", "Triage: Cannot log in"),
    }
    assert [(e["task_name"], e["offer_kind"]) for e in linus] == [("fix", "group")]
    assert [(e["task_name"], e["title"]) for e in agents] == [
        ("keep_informed", "Keep the customer informed: Data export fails")
    ]
    assert desk.client.get("/api/queues/claimed", headers=ADA).json() == []


def test_a_queue_is_filtered_and_paged(desk: Desk):
    second = desk.api.initialize_root_workflow({"subject": "Second", "customer": "kay"})
    queue = "/api/queues/available"

    first_page = desk.client.get(queue, params={"limit": 1}, headers=ADA).json()
    rest = desk.client.get(
        queue, params={"limit": 5, "after": first_page[0]["work_item_id"]}, headers=ADA
    ).json()
    only_triage = desk.client.get(queue, params={"task_name": "answer"}, headers=ADA).json()

    assert len(first_page) == 1
    assert {e["workflow_id"] for e in first_page + rest} == {desk.cases["new"], second}
    assert only_triage == []
    assert_problem(desk.client.get(queue, params={"limit": 0}, headers=ADA), 422, "limit")
    due_soon = {"due_before": "2099-01-01T00:00:00Z"}  # none has a due date: none is due
    assert desk.client.get(queue, params=due_soon, headers=ADA).json() == []
    # found by schemathesis: a number would be taken for seconds since 1970
    refused = desk.client.get(queue, params={"due_before": "9081"}, headers=ADA)
    assert_problem(refused, 422, "due_before", "not an ISO 8601 time")
    for edge in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):  # outside UTC's years
        answer = desk.client.get(queue, params={"due_before": edge}, headers=ADA)
        assert answer.status_code == 200 and answer.json() == [], answer.text


def test_a_claim_through_the_api_and_its_release(desk: Desk):
    item_id, _ = triage_route(desk, "start")

    claimed = desk.client.post(f"/api/work-items/{item_id}/claim", headers=ADA)
    taken = desk.client.post(f"/api/work-items/{item_id}/claim", headers=GRACE)
    not_hers = desk.client.post(f"/api/work-items/{item_id}/release", headers=GRACE)

    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["claimed_by"] == "ada"
    assert_problem(taken, 409, "ada")
    assert_problem(not_hers, 409, "cannot release")
    assert desk.app.queues.get(item_id).claimed_by == "ada"  # type: ignore[union-attr]
    released = desk.client.post(f"/api/work-items/{item_id}/release", headers=ADA)
    assert released.json()["claimed_by"] is None


def test_a_claim_of_what_is_not_offered_to_the_caller_is_refused(desk: Desk):
    item_id, _ = triage_route(desk, "start")

    response = desk.client.post(f"/api/work-items/{item_id}/claim", headers=LINUS)

    assert_problem(response, 403, "desk:triage")
    assert desk.app.queues.get(item_id).claimed_by is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("get", "/api/queues/available", {}, 401),
        ("get", "/api/queues/claimed", {}, 401),
        ("get", "/api/queues/agents", {}, 401),
        ("get", "/api/queues/agents", ADA, 403),
        ("post", "/api/work-items/{item}/claim", {}, 401),
        ("post", "/api/work-items/{item}/release", {}, 401),
        ("post", "/api/work-items/01ARZ3NDEKTSV4RRFFQ69G5FAV/claim", ADA, 404),
    ],
)
def test_queue_routes_refuse_nobody_and_what_does_not_exist(
    desk: Desk, method: str, path: str, headers: dict[str, str], status: int
):
    item_id, _ = triage_route(desk, "start")

    response = getattr(desk.client, method)(path.format(item=item_id), headers=headers)

    assert_problem(response, status)
    assert desk.app.queues.get(item_id).claimed_by is None  # type: ignore[union-attr]


def test_an_app_without_a_user_provider_serves_anonymous_callers(app: tq.App):
    api = app.register(tq.versions("plain").version("v1", plain_workflow())).api("v1")
    with TestClient(tq.web.create_app(app)) as client:
        created = client.post("/api/workflows/plain/v1/instances", json={"n": 1})
        me = client.get("/api/me")

    assert created.status_code == 201, created.text
    assert api.get_workflow_state(created.json()["id"]) == "initialized"
    assert_problem(me, 401)


class Start(pydantic.BaseModel):
    n: int


def plain_workflow() -> WorkflowBuilder:
    def initialize(ctx: tq.WorkflowInitializeContext, payload: Start) -> None:
        ctx.workflow.initialize()

    return (
        Builder.workflow("plain")
        .with_actions(Builder.workflow_actions().initialize(Start, initialize))
        .start_condition("start")
        .end_condition("end")
        .task("work", Builder.task(Builder.work_item("work")))
        .connect_condition("start", lambda to: to.task("work"))
        .connect_task("work", lambda to: to.condition("end"))
    )
