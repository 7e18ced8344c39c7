"""The debugger's pages: the cases, and one case drawn as its workflow's graph in the state it
is in (tasks coloured by state, markings on conditions, composite tasks leading to their
children), with its work items and child workflows."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

import tasquencer as tq
from tasquencer.records import WORKFLOW_STATES, WorkflowStructure
from tasquencer.web import examples, timeline, users
from tasquencer.web.layout import Edge, Node, lay_out
from tasquencer.web.routes import Time

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def debugger_router(app: tq.App) -> APIRouter:
    def page_state(request: Request) -> None:
        """Errors on the debugger's pages are pages too (see `problems.problem`); each page
        says who is signed in."""
        request.state.html_errors = TEMPLATES
        request.state.me = users.current(app, request)

    router = APIRouter(include_in_schema=False, dependencies=[Depends(page_state)])

    @router.get("/")
    def home(request: Request) -> RedirectResponse:
        return RedirectResponse(request.url_for("cases"))

    @router.get("/debugger", response_class=HTMLResponse, name="cases")
    def cases(request: Request, workflow: str = "", state: str = "") -> HTMLResponse:
        found = [
            case
            for name, versions in sorted(app.workflows.items())
            if not workflow or name == workflow
            for version in versions.version_names
            for case in versions.api(version).list_workflows(state or None)
        ]
        found.sort(key=lambda case: case.id, reverse=True)
        return TEMPLATES.TemplateResponse(
            request,
            "cases.html",
            {
                "cases": found,
                "workflow_names": sorted(app.workflows),
                "workflow": workflow,
                "states": WORKFLOW_STATES,
                "state": state,
            },
        )

    @router.get("/debugger/cases/{workflow_id}", response_class=HTMLResponse, name="case")
    def case(request: Request, workflow_id: str, at: Time | None = None) -> HTMLResponse:
        """The case as it is, or with `?at=` as it was then (from the audit trail)."""
        api = app.api_of(workflow_id)
        now = api.get_workflow_snapshot(workflow_id)
        snapshot = now if at is None else api.get_workflow_state_at(workflow_id, at)
        crumbs = _crumbs(app, now)
        path = _workflow_path(now, crumbs)
        structure = _structure_at(api.get_workflow_structure(), path)
        view = _case_view(snapshot, structure, crumbs)
        view["timeline"] = timeline.of(api, now, at)
        if at is None:
            view["claims"] = _claims(app, snapshot)
            view["actions"] = _item_actions(request, api, snapshot, path)
            _add_claim_actions(request, view["actions"], view["claims"], request.state.me)
        else:  # the past is only looked at
            view["claims"], view["actions"] = {}, {}
        return TEMPLATES.TemplateResponse(request, "case.html", view)

    return router


def _case_view(
    snapshot: tq.WorkflowSnapshot, structure: WorkflowStructure, crumbs: list[tq.WorkflowSnapshot]
) -> dict[str, Any]:
    layout = lay_out(structure)
    regions = structure["cancellation_regions"]
    child_of_task: dict[str, str] = {}
    for child in snapshot.child_workflows:  # the newest child of each composite task
        child_of_task[child.task_name] = child.id
    return {
        "snapshot": snapshot,
        "crumbs": crumbs,
        "layout": layout,
        "regions": regions,
        "nodes": [_node_view(n, snapshot, child_of_task, regions) for n in layout.nodes],
        "edges": [_edge_view(e, snapshot) for e in layout.edges],
    }


def _node_view(
    node: Node,
    snapshot: tq.WorkflowSnapshot,
    child_of_task: dict[str, str],
    regions: dict[str, Any],
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": node.id,
        "kind": node.kind,
        "x": node.x,
        "y": node.y,
        "label": node.label,
        "join": node.join,
        "split": node.split,
        "is_start": node.is_start,
        "is_end": node.is_end,
        "owner": node.id in regions,
    }
    if node.kind == "condition":
        view["marking"] = snapshot.conditions.get(node.id, 0)
    else:
        task = snapshot.tasks[node.id]
        view.update(state=task.state, generation=task.generation)
        view["child"] = child_of_task.get(node.id)
    return view


def _edge_view(edge: Edge, snapshot: tq.WorkflowSnapshot) -> dict[str, Any]:
    points = edge.points
    if edge.backwards:  # one curve, around below the graph
        (sx, sy), (ax, ay), (bx, by), (tx, ty) = points
        d = f"M {sx} {sy} C {ax} {ay}, {bx} {by}, {tx} {ty}"
        mx, my = (ax + bx) / 2, ay - 6
    else:  # an S-curve per layer crossed
        d = f"M {points[0][0]} {points[0][1]}"
        for (x0, y0), (x1, y1) in itertools.pairwise(points):
            middle = (x0 + x1) / 2
            d += f" C {middle} {y0}, {middle} {y1}, {x1} {y1}"
        (x0, y0), (x1, y1) = points[0], points[1]
        mx, my = (x0 + x1) / 2, (y0 + y1) / 2 - 6
    marking = snapshot.conditions.get(edge.through, 0) if edge.through else 0
    return {"d": d, "through": edge.through, "marking": marking, "mx": mx, "my": my}


def _structure_at(root: WorkflowStructure, path: tuple[str, ...]) -> WorkflowStructure:
    """The structure of the workflow at `path` (root, task, child, task, child ...)."""
    structure = root
    for task_name, child_name in zip(path[1::2], path[2::2], strict=True):
        (task,) = [t for t in structure["tasks"] if t["name"] == task_name]
        (structure,) = [c for c in task.get("children", []) if c["name"] == child_name]
    return structure


def _crumbs(app: tq.App, snapshot: tq.WorkflowSnapshot) -> list[tq.WorkflowSnapshot]:
    """The ancestors of a child workflow, root first (none for a root)."""
    ancestors = []
    parent = snapshot.parent_workflow_id
    while parent is not None:
        above = app.api_of(parent).get_workflow_snapshot(parent)
        ancestors.append(above)
        parent = above.parent_workflow_id
    return ancestors[::-1]


def _workflow_path(
    snapshot: tq.WorkflowSnapshot, crumbs: list[tq.WorkflowSnapshot]
) -> tuple[str, ...]:
    """Where the workflow is in its version's definition: root, then task and child names."""
    chain = [*crumbs, snapshot]
    path = [chain[0].name]
    for parent, child in itertools.pairwise(chain):
        (task,) = [c.task_name for c in parent.child_workflows if c.id == child.id]
        path += [task, child.name]
    return tuple(path)


# What a work item in each state can be asked to do (see docs/semantics.md, work items).
_ACTIONS_IN = {
    "initialized": ("start", "cancel"),
    "started": ("complete", "fail", "reset", "cancel"),
}


def _item_actions(
    request: Request, api: tq.WorkflowApi, snapshot: tq.WorkflowSnapshot, path: tuple[str, ...]
) -> dict[str, list[dict[str, Any]]]:
    """For each open work item, the public actions its state allows: a label, the route and,
    when the action takes a payload, an example of it to edit."""
    public = {
        (a.path, a.action): a
        for a in api.describe_actions()
        if a.element == "work_item" and a.accepts_external
    }
    root = _app_root(request)
    found: dict[str, list[dict[str, Any]]] = {}
    for item in snapshot.work_items:
        where = (*path, item.task_name, item.name)
        for name in _ACTIONS_IN.get(item.state, ()):
            action = public.get((where, name))
            if action is None:
                continue
            route = "/".join(quote(part) for part in (*where[1:], item.id, name))
            found.setdefault(item.id, []).append(
                {
                    "name": name,
                    "url": f"{root}/api/workflows/{quote(path[0])}/{quote(snapshot.version_name)}"
                    f"/work-items/{route}",
                    "example": examples.payload(action.schema),
                }
            )
    return found


def _claims(app: tq.App, snapshot: tq.WorkflowSnapshot) -> dict[str, tq.QueueItem]:
    """The queue entries (offer and claim) of the open work items that are offered."""
    found = {}
    for item in snapshot.work_items:
        if item.state in _ACTIONS_IN:
            entry = app.queues.get(item.id)
            if entry is not None:
                found[item.id] = entry
    return found


def _add_claim_actions(
    request: Request,
    actions: dict[str, list[dict[str, Any]]],
    claims: dict[str, tq.QueueItem],
    me: tq.User | None,
) -> None:
    """A signed-in user may claim an unclaimed offered work item, and release their claim."""
    if me is None:
        return
    root = _app_root(request)
    for item_id, entry in claims.items():
        verb = (
            "claim" if entry.claimed_by is None else "release" if entry.claimed_by == me.id else ""
        )
        if verb:
            url = f"{root}/api/work-items/{quote(item_id)}/{verb}"
            actions.setdefault(item_id, []).insert(0, {"name": verb, "url": url, "example": None})


def _app_root(request: Request) -> str:
    """Where the application is mounted: the HTTP API's routes are under it."""
    return str(request.url_for("cases")).removesuffix("/debugger")
