"""The HTTP API: one route per public action of every registered workflow version, the reads,
the jobs, and the registered functions that are not internal.

Request bodies are validated by the actions' own schemas (the OpenAPI document is generated
from them). Default actions and functions registered `internal=True` are never routed.
"""

from __future__ import annotations

import inspect
import threading
import zlib
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

import pydantic
from fastapi import APIRouter, Body, Depends, Query, Request, Response, status
from fastapi.responses import JSONResponse

import tasquencer as tq
from tasquencer.records import JobState, WorkflowState, WorkItemState
from tasquencer.web import problems, users
from tasquencer.web.actions import ActionEndpoint, ActionRoute, Handler
from tasquencer.web.functions import function_routes

MAX_PAGE = 1000  # the most rows one list request returns
MAX_NAME = 200  # the longest workflow, task and id names the engine stores
# A name in a query string: what the engine can store (no NUL), so the schema says what it takes.
Name = Annotated[str | None, Query(max_length=MAX_NAME, pattern="^[^\x00]*$")]


def _iso_8601(value: object) -> object:
    """Refuse what pydantic would otherwise take for a time: a number of seconds since 1970."""
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 time (2026-12-01T10:00:00Z)") from None
    return value


def _in_utc(value: datetime) -> datetime:
    """The time in UTC. A valid date-time that UTC cannot hold (year 1 east of UTC, year 9999
    west of it) is before (after) every time the engine stores: it becomes the first (last)
    time there is, which answers the same."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return (datetime.min if value.year == 1 else datetime.max).replace(tzinfo=UTC)


# A time in a query string: ISO 8601 text with its offset, as the schema says (date-time).
Time = Annotated[
    pydantic.AwareDatetime, pydantic.BeforeValidator(_iso_8601), pydantic.AfterValidator(_in_utc)
]


@dataclass(frozen=True, slots=True)
class State:
    """An instance's state."""

    state: WorkflowState


@dataclass(frozen=True, slots=True)
class Created:
    """What a creation answers: the new element's id."""

    id: str


def api_router(app: tq.App, *, writes_on_loop: bool) -> APIRouter:
    """All the routes of the HTTP API for the workflows `app` has registered; with
    `writes_on_loop`, actions on SQLite run on the event loop unless they would wait."""
    router = APIRouter(prefix="/api", responses=problems.documented(400, 404, 409, 422, 503))
    for name, versions in sorted(app.workflows.items()):
        for version in versions.version_names:
            _version_routes(router, app, versions.api(version), name, version, writes_on_loop)
    _instance_routes(router, app)
    _queue_routes(router, app)
    _job_routes(router, app)
    function_routes(router, app)
    return router


# --- actions -----------------------------------------------------------------------------------


def _version_routes(
    router: APIRouter,
    app: tq.App,
    api: tq.WorkflowApi,
    name: str,
    version: str,
    writes_on_loop: bool,
) -> None:
    prefix = f"/workflows/{quote(name)}/{quote(version)}"
    tag = f"{name} {version}"
    places = Places(api)
    for action in api.describe_actions():
        if not action.accepts_external:
            continue
        where = "/".join(quote(part) for part in action.path[1:])
        summary = f"{action.action} {'/'.join(action.path)}"
        route = Route(app, api, action, tag, summary, places, writes_on_loop)
        if action.element == "workflow" and len(action.path) == 1:
            _root_action(router, route, prefix)
        elif action.element == "workflow":
            _child_action(router, route, f"{prefix}/children/{where}")
        else:
            _item_action(router, route, f"{prefix}/work-items/{where}")

    def instances(request: Request, state: WorkflowState | None = None) -> list[tq.WorkflowRecord]:
        return api.list_workflows(state)

    router.add_api_route(
        f"{prefix}/instances", instances, methods=["GET"], tags=[tag], summary="root instances"
    )

    def structure() -> tq.WorkflowStructure:
        return api.get_workflow_structure()

    router.add_api_route(
        f"{prefix}/structure", structure, methods=["GET"], tags=[tag], summary="the graph"
    )


@dataclass(frozen=True, slots=True)
class Route:
    """One public action to route, and what its handler needs."""

    app: tq.App
    api: tq.WorkflowApi
    action: tq.ActionDescription
    tag: str
    summary: str
    places: Places
    writes_on_loop: bool

    def user(self, request: Request) -> Request | None:
        return users.source(self.app, request)


class Places:
    """The task and the name of each work item of a version, which never change: read once,
    or learnt from a command's answer (the work items it created), so that a client working
    through a case over HTTP does not pay a read transaction for each one."""

    LIMIT = 100_000  # places kept; the oldest are forgotten first

    def __init__(self, api: tq.WorkflowApi) -> None:
        self._api = api
        self._known: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def of(self, work_item_id: str) -> tuple[str, str]:
        place = self._known.get(work_item_id)
        if place is None:
            place = self._remember(self._api.get_work_item(work_item_id))
        return place

    def learn(self, items: list[tq.WorkItem]) -> None:
        for item in items:
            self._remember(item)

    def _remember(self, item: tq.WorkItem) -> tuple[str, str]:
        place = (item.task_name, item.name)
        with self._lock:
            if len(self._known) >= self.LIMIT:
                del self._known[next(iter(self._known))]
            self._known[item.id] = place
        return place


def _root_action(router: APIRouter, route: Route, prefix: str) -> None:
    api = route.api
    if route.action.action == "initialize":

        def initialize(request: Request, payload: object = None) -> Created:
            return Created(api.initialize_root_workflow(payload, user=route.user(request)))

        _post(router, f"{prefix}/instances", initialize, route, [], Created)
    else:

        def cancel(request: Request, workflow_id: str, payload: object = None) -> Response:
            api.cancel_root_workflow(workflow_id, payload, user=route.user(request))
            return Response(status_code=status.HTTP_204_NO_CONTENT)

        path = f"{prefix}/instances/{{workflow_id}}/cancel"
        _post(router, path, cancel, route, ["workflow_id"], None)


def _child_action(router: APIRouter, route: Route, prefix: str) -> None:
    api, path = route.api, route.action.path
    if route.action.action == "initialize":

        def initialize(
            request: Request, parent_workflow_id: str, payload: object = None
        ) -> Created:
            target = {
                "path": list(path),
                "parent_workflow_id": parent_workflow_id,
                "parent_task_name": path[-2],
            }
            return Created(api.initialize_workflow(target, payload, user=route.user(request)))

        _post(router, prefix, initialize, route, ["?parent_workflow_id"], Created)
    else:

        def cancel(request: Request, workflow_id: str, payload: object = None) -> Response:
            api.cancel_workflow(workflow_id, payload, user=route.user(request))
            return Response(status_code=status.HTTP_204_NO_CONTENT)

        _post(router, f"{prefix}/{{workflow_id}}/cancel", cancel, route, ["workflow_id"], None)


_ITEM_COMMANDS = {
    "start": "start_work_item",
    "complete": "complete_work_item",
    "fail": "fail_work_item",
    "cancel": "cancel_work_item",
    "reset": "reset_work_item",
}


def _item_action(router: APIRouter, route: Route, prefix: str) -> None:
    api, path, name = route.api, route.action.path, route.action.action
    if name == "initialize":

        def initialize(
            request: Request, parent_workflow_id: str, payload: object = None
        ) -> Created:
            target = {
                "path": list(path),
                "parent_workflow_id": parent_workflow_id,
                "parent_task_name": path[-2],
            }
            return Created(api.initialize_work_item(target, payload, user=route.user(request)))

        _post(router, prefix, initialize, route, ["?parent_workflow_id"], Created)
        return
    command = getattr(api, _ITEM_COMMANDS[name])

    def perform(request: Request, work_item_id: str, payload: object = None) -> list[tq.WorkItem]:
        task_name, item_name = route.places.of(work_item_id)
        if item_name != path[-1] or task_name != path[-2]:
            raise tq.WorkItemNotFoundError(
                f"work item {work_item_id} is a {item_name!r} of task {task_name!r}, not "
                f"a {path[-1]!r} of task {path[-2]!r}"
            )
        created: list[tq.WorkItem] = command(work_item_id, payload, user=route.user(request))
        route.places.learn(created)
        return created

    path_ = f"{prefix}/{{work_item_id}}/{name}"
    _post(router, path_, perform, route, ["work_item_id"], list[tq.WorkItem])


def _post(
    router: APIRouter,
    path: str,
    handler: Handler,
    route: Route,
    params: list[str],
    returns: Any,
) -> None:
    """Route `handler` with a signature FastAPI reads: the path (or `?query`) parameters, and
    the payload typed by the action's schema (none when the schema is None). It answers
    `returns`: `Created` (201), the work items a command created (200) or nothing (204)."""
    parameters = [inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request)]
    for param in params:
        name = param.lstrip("?")
        default = Query(...) if param.startswith("?") else inspect.Parameter.empty
        parameters.append(
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=str, default=default)
        )
    schema: Any = route.action.schema
    if schema is not None:
        annotation: Any = schema
        default = Body(default=None) if schema is Any else Body(...)
        parameters.append(
            inspect.Parameter(
                "payload", inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
            )
        )
    status_code = 204 if returns is None else 201 if returns is Created else 200
    endpoint = ActionEndpoint(
        handler=handler,
        signature=inspect.Signature(parameters, return_annotation=returns),
        path_params=tuple(p for p in params if not p.startswith("?")),
        query_params=tuple(p[1:] for p in params if p.startswith("?")),
        schema=schema,
        status_code=status_code,
        adapter=None if schema is None or schema is Any else pydantic.TypeAdapter(schema),
        on_loop=route.app if route.writes_on_loop and _on_sqlite(route.app) else None,
    )
    router.add_api_route(
        path,
        endpoint,
        methods=["POST"],
        tags=[route.tag],
        summary=route.summary,
        name=f"{handler.__name__}_{zlib.crc32(path.encode()):x}",  # the same in every process
        responses=problems.documented(401, 403),
        status_code=status_code,
        response_model=returns,
        response_class=Response if returns is None else JSONResponse,
        route_class_override=ActionRoute,
    )


def _on_sqlite(app: tq.App) -> bool:
    return app.engine.dialect.name == "sqlite"


# --- reads -------------------------------------------------------------------------------------


def _instance_routes(router: APIRouter, app: tq.App) -> None:
    def snapshot(request: Request, workflow_id: str) -> tq.WorkflowSnapshot:
        return app.api_of(workflow_id).get_workflow_snapshot(workflow_id)

    def work_items(
        request: Request,
        workflow_id: str,
        task_name: Name = None,
        state: WorkItemState | None = None,
    ) -> list[tq.WorkItem]:
        api = app.api_of(workflow_id)
        return api.list_work_items(workflow_id, task_name, state)

    def children(
        request: Request, workflow_id: str, task_name: Name = None
    ) -> list[tq.ChildWorkflow]:
        api = app.api_of(workflow_id)
        return api.list_child_workflows(workflow_id, task_name)

    def state(request: Request, workflow_id: str) -> State:
        return State(app.api_of(workflow_id).get_workflow_state(workflow_id))

    def history(request: Request, workflow_id: str) -> list[tq.HistoryEvent]:
        return app.api_of(workflow_id).get_workflow_history(workflow_id)

    def spans(request: Request, workflow_id: str) -> list[tq.TraceSpan]:
        return app.api_of(workflow_id).get_trace_spans(workflow_id)

    def state_at(request: Request, workflow_id: str, at: Time) -> tq.WorkflowSnapshot:
        return app.api_of(workflow_id).get_workflow_state_at(workflow_id, at)

    for path, handler, summary in (
        ("", snapshot, "snapshot"),
        ("/state", state, "state"),
        ("/history", history, "what happened, oldest first (the audit trail)"),
        ("/spans", spans, "the spans of its tree's trace, nested"),
        ("/state-at", state_at, "the snapshot as it was at a time (?at=2026-12-01T10:00:00Z)"),
        ("/work-items", work_items, "work items, every generation"),
        ("/children", children, "child workflows, every generation"),
    ):
        _route(router, f"/instances/{{workflow_id}}{path}", handler, "GET", "instances", summary)


def _queue_routes(router: APIRouter, app: tq.App) -> None:
    """The calling user's work queues, and claims (docs/web.md, "Work queues")."""

    def available(request: Request, page: Annotated[QueuePage, Depends()]) -> list[tq.QueueItem]:
        return app.queues.available_for(users.source(app, request), **page.filters())

    def claimed(request: Request, page: Annotated[QueuePage, Depends()]) -> list[tq.QueueItem]:
        return app.queues.claimed_by(users.source(app, request), **page.filters())

    def for_agents(request: Request, page: Annotated[QueuePage, Depends()]) -> list[tq.QueueItem]:
        if not users.signed_in(app, request).is_agent:
            raise tq.ForbiddenError("the agents' queue is for agents")
        return app.queues.available_for_agents(**page.filters())

    def claim(request: Request, work_item_id: str) -> tq.QueueItem:
        return app.queues.claim(work_item_id, user=users.signed_in(app, request))

    def release(request: Request, work_item_id: str) -> tq.QueueItem:
        return app.queues.release(work_item_id, user=users.signed_in(app, request))

    def me(request: Request) -> users.Me:
        return users.me(users.signed_in(app, request))

    def add(path: str, handler: Handler, method: str, summary: str) -> None:
        _route(router, path, handler, method, "work queues", summary, problems.documented(401, 403))

    add("/me", me, "GET", "who I am")
    add("/queues/available", available, "GET", "offered to me, unclaimed")
    add("/queues/claimed", claimed, "GET", "claimed by me")
    add("/queues/agents", for_agents, "GET", "offered to agents, unclaimed (agents only)")
    add("/work-items/{work_item_id}/claim", claim, "POST", "claim: nobody else may act on it")
    add("/work-items/{work_item_id}/release", release, "POST", "release my claim")


def _route(
    router: APIRouter,
    path: str,
    handler: Handler,
    method: str,
    tag: str,
    summary: str,
    responses: dict[int | str, dict[str, object]] | None = None,
) -> None:
    router.add_api_route(
        path, handler, methods=[method], tags=[tag], summary=summary, responses=responses
    )


@dataclass
class QueuePage:
    """The filters and the page of a queue request (ordered by priority, then due date)."""

    workflow_name: Name = None
    task_name: Name = None
    min_priority: Annotated[int | None, Query(ge=-(2**31), le=2**31)] = None
    due_before: Time | None = None
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50
    after: Name = None

    def filters(self) -> dict[str, Any]:
        return asdict(self)


def _job_routes(router: APIRouter, app: tq.App) -> None:
    def jobs(
        state: JobState | None = None,
        function: Name = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    ) -> list[tq.JobRecord]:
        return app.list_jobs(state=state, function=function, limit=limit)

    router.add_api_route(
        "/jobs", jobs, methods=["GET"], tags=["jobs"], summary="jobs, newest first"
    )
