"""The HTTP API: one route per public action of every registered workflow version, the reads,
the jobs, and the registered functions that are not internal.

Request bodies are validated by the actions' own schemas (the OpenAPI document is generated
from them). Default actions and functions registered `internal=True` are never routed.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Query, Request, Response, status
from fastapi.responses import JSONResponse

import tasquencer as tq
from tasquencer.records import JobState, WorkflowState, WorkItemState
from tasquencer.web import problems
from tasquencer.web.functions import function_routes

MAX_PAGE = 1000  # the most rows one list request returns

Handler = Callable[..., object]


@dataclass(frozen=True, slots=True)
class State:
    """An instance's state."""

    state: WorkflowState


@dataclass(frozen=True, slots=True)
class Created:
    """What a creation answers: the new element's id."""

    id: str


def api_router(app: tq.App) -> APIRouter:
    """All the routes of the HTTP API for the workflows `app` has registered."""
    router = APIRouter(prefix="/api", responses=problems.documented(400, 404, 409, 422))
    for name, versions in sorted(app.workflows.items()):
        for version in versions.version_names:
            _version_routes(router, versions.api(version), name, version)
    _instance_routes(router, app)
    _job_routes(router, app)
    function_routes(router, app)
    return router


# --- actions -----------------------------------------------------------------------------------


def _version_routes(
    router: APIRouter,
    api: tq.WorkflowApi,
    name: str,
    version: str,
) -> None:
    prefix = f"/workflows/{quote(name)}/{quote(version)}"
    tag = f"{name} {version}"
    for action in api.describe_actions():
        if not action.accepts_external:
            continue
        where = "/".join(quote(part) for part in action.path[1:])
        summary = f"{action.action} {'/'.join(action.path)}"
        if action.element == "workflow" and len(action.path) == 1:
            _root_action(router, api, prefix, action, tag, summary)
        elif action.element == "workflow":
            _child_action(router, api, f"{prefix}/children/{where}", action, tag, summary)
        else:
            _item_action(router, api, f"{prefix}/work-items/{where}", action, tag, summary)

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


def _root_action(
    router: APIRouter,
    api: tq.WorkflowApi,
    prefix: str,
    action: tq.ActionDescription,
    tag: str,
    summary: str,
) -> None:
    if action.action == "initialize":

        def initialize(request: Request, payload: object = None) -> Created:
            return Created(api.initialize_root_workflow(payload))

        _post(router, f"{prefix}/instances", initialize, action.schema, [], tag, summary, True)
    else:

        def cancel(request: Request, workflow_id: str, payload: object = None) -> Response:
            api.cancel_root_workflow(workflow_id, payload)
            return Response(status_code=status.HTTP_204_NO_CONTENT)

        path = f"{prefix}/instances/{{workflow_id}}/cancel"
        _post(router, path, cancel, action.schema, ["workflow_id"], tag, summary, False)


def _child_action(
    router: APIRouter,
    api: tq.WorkflowApi,
    prefix: str,
    action: tq.ActionDescription,
    tag: str,
    summary: str,
) -> None:
    path = action.path
    if action.action == "initialize":

        def initialize(
            request: Request, parent_workflow_id: str, payload: object = None
        ) -> Created:
            target = {
                "path": list(path),
                "parent_workflow_id": parent_workflow_id,
                "parent_task_name": path[-2],
            }
            return Created(api.initialize_workflow(target, payload))

        _post(
            router, prefix, initialize, action.schema, ["?parent_workflow_id"], tag, summary, True
        )
    else:

        def cancel(request: Request, workflow_id: str, payload: object = None) -> Response:
            api.cancel_workflow(workflow_id, payload)
            return Response(status_code=status.HTTP_204_NO_CONTENT)

        route = f"{prefix}/{{workflow_id}}/cancel"
        _post(router, route, cancel, action.schema, ["workflow_id"], tag, summary, False)


_ITEM_COMMANDS = {
    "start": "start_work_item",
    "complete": "complete_work_item",
    "fail": "fail_work_item",
    "cancel": "cancel_work_item",
    "reset": "reset_work_item",
}


def _item_action(
    router: APIRouter,
    api: tq.WorkflowApi,
    prefix: str,
    action: tq.ActionDescription,
    tag: str,
    summary: str,
) -> None:
    path = action.path
    if action.action == "initialize":

        def initialize(
            request: Request, parent_workflow_id: str, payload: object = None
        ) -> Created:
            target = {
                "path": list(path),
                "parent_workflow_id": parent_workflow_id,
                "parent_task_name": path[-2],
            }
            return Created(api.initialize_work_item(target, payload))

        _post(
            router, prefix, initialize, action.schema, ["?parent_workflow_id"], tag, summary, True
        )
        return
    command = getattr(api, _ITEM_COMMANDS[action.action])

    def perform(request: Request, work_item_id: str, payload: object = None) -> Response:
        item = api.get_work_item(work_item_id)
        if item.name != path[-1] or item.task_name != path[-2]:
            raise tq.WorkItemNotFoundError(
                f"work item {work_item_id} is a {item.name!r} of task {item.task_name!r}, not "
                f"a {path[-1]!r} of task {path[-2]!r}"
            )
        command(work_item_id, payload)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    route = f"{prefix}/{{work_item_id}}/{action.action}"
    _post(router, route, perform, action.schema, ["work_item_id"], tag, summary, False)


def _post(
    router: APIRouter,
    path: str,
    handler: Handler,
    schema: object,
    params: list[str],
    tag: str,
    summary: str,
    creates: bool,
) -> None:
    """Route `handler` with a signature FastAPI reads: the path (or `?query`) parameters, and
    the payload typed by the action's schema (none when the schema is None)."""
    parameters = [inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request)]
    for param in params:
        name = param.lstrip("?")
        default = Query(...) if param.startswith("?") else inspect.Parameter.empty
        parameters.append(
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=str, default=default)
        )
    if schema is not None:
        annotation: Any = schema
        default = Body(default=None) if schema is Any else Body(...)
        parameters.append(
            inspect.Parameter(
                "payload", inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
            )
        )

    def endpoint(**kwargs: Any) -> object:
        return handler(**kwargs)

    returns = Created if creates else None
    endpoint.__signature__ = inspect.Signature(parameters, return_annotation=returns)  # type: ignore[attr-defined]
    endpoint.__name__ = f"{handler.__name__}_{abs(hash(path)):x}"
    router.add_api_route(
        path,
        endpoint,
        methods=["POST"],
        tags=[tag],
        summary=summary,
        status_code=201 if creates else 204,
        response_model=returns,
        response_class=JSONResponse if creates else Response,
    )


# --- reads -------------------------------------------------------------------------------------


def _instance_routes(router: APIRouter, app: tq.App) -> None:
    def snapshot(request: Request, workflow_id: str) -> tq.WorkflowSnapshot:
        return app.api_of(workflow_id).get_workflow_snapshot(workflow_id)

    def work_items(
        request: Request,
        workflow_id: str,
        task_name: str | None = None,
        state: WorkItemState | None = None,
    ) -> list[tq.WorkItem]:
        api = app.api_of(workflow_id)
        return api.list_work_items(workflow_id, task_name, state)

    def children(
        request: Request, workflow_id: str, task_name: str | None = None
    ) -> list[tq.ChildWorkflow]:
        api = app.api_of(workflow_id)
        return api.list_child_workflows(workflow_id, task_name)

    def state(request: Request, workflow_id: str) -> State:
        return State(app.api_of(workflow_id).get_workflow_state(workflow_id))

    tag = "instances"
    router.add_api_route(
        "/instances/{workflow_id}", snapshot, methods=["GET"], tags=[tag], summary="snapshot"
    )
    router.add_api_route(
        "/instances/{workflow_id}/state", state, methods=["GET"], tags=[tag], summary="state"
    )
    router.add_api_route(
        "/instances/{workflow_id}/work-items",
        work_items,
        methods=["GET"],
        tags=[tag],
        summary="work items, every generation",
    )
    router.add_api_route(
        "/instances/{workflow_id}/children",
        children,
        methods=["GET"],
        tags=[tag],
        summary="child workflows, every generation",
    )


def _job_routes(router: APIRouter, app: tq.App) -> None:
    def jobs(
        state: JobState | None = None,
        function: str | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    ) -> list[tq.JobRecord]:
        return app.list_jobs(state=state, function=function, limit=limit)

    router.add_api_route(
        "/jobs", jobs, methods=["GET"], tags=["jobs"], summary="jobs, newest first"
    )
