"""Actions and payloads: default actions are internal-only, custom actions validate their
payloads with pydantic, and callbacks see the contexts of `tasquencer.contexts`."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

import tasquencer as tq
from tasquencer import Builder
from tests.helpers import one_task_workflow

# --- helpers (local to this file) ------------------------------------------------------------


def register(app: Any, wf: Any) -> Any:
    return app.register(tq.versions(wf.name).version("v1", wf)).api("v1")


def task_with_items(n: int, item: Any = None) -> Any:
    def on_enabled(ctx: Any) -> None:
        for _ in range(n):
            ctx.work_item.initialize()

    return Builder.task(item or Builder.work_item("item")).with_activities(on_enabled=on_enabled)


def tree(api: Any, workflow_id: str) -> dict[str, Any]:
    """Snapshots of a workflow and all its descendants: 'nothing changed' compares these."""
    snapshots: dict[str, Any] = {}
    pending = [workflow_id]
    while pending:
        wid = pending.pop()
        snapshots[wid] = api.get_workflow_snapshot(wid)
        pending.extend(c.id for c in snapshots[wid].child_workflows)
    return snapshots


def with_actions(item_name: str = "item", **actions: tuple[Any, Any]) -> Any:
    """A work item with the given custom actions: name=(schema, callback)."""
    builder = Builder.work_item_actions()
    for name, (schema, callback) in actions.items():
        builder = getattr(builder, name)(schema, callback)
    return Builder.work_item(item_name).with_actions(builder)


def composite_workflow(child: Any, *, creates_child: bool = True) -> Any:
    """parent: start -> P (composite of `child`) -> end."""

    def on_enabled(ctx: Any) -> None:
        if creates_child:
            ctx.workflow.initialize()

    return (
        Builder.workflow("parent")
        .start_condition("start")
        .end_condition("end")
        .composite_task("P", Builder.composite_task(child).with_activities(on_enabled=on_enabled))
        .connect_condition("start", lambda to: to.task("P"))
        .connect_task("P", lambda to: to.condition("end"))
    )


class ReviewResult(pydantic.BaseModel):
    approved: bool
    score: int


class ItemInput(pydantic.BaseModel):
    title: str


# --- default actions are internal-only -------------------------------------------------------

# action -> (start the item before?, state after the internal twin ran)
DEFAULT_ACTIONS = {
    "start": (False, "started"),
    "complete": (True, "completed"),
    "fail": (True, "failed"),
    "cancel": (False, "canceled"),
    "reset": (True, "initialized"),
}


@pytest.mark.parametrize("action", list(DEFAULT_ACTIONS))
def test_default_work_item_action_rejects_the_public_api_and_its_internal_twin_works(app, action):
    started_before, state_after = DEFAULT_ACTIONS[action]
    api = register(app, one_task_workflow(task_with_items(2)))
    wid = api.internal_initialize_root_workflow()
    wi, _ = (w.id for w in api.list_work_items(wid))
    if started_before:
        api.internal_start_work_item(wi)
    before = tree(api, wid)

    with pytest.raises(tq.NotInternalMutationError) as raised:
        getattr(api, f"{action}_work_item")(wi)

    assert isinstance(raised.value, tq.TasquencerError)
    assert tree(api, wid) == before

    getattr(api, f"internal_{action}_work_item")(wi)
    assert api.get_work_item_state(wi) == state_after


def test_default_initialize_work_item_rejects_the_public_api(app):
    api = register(app, one_task_workflow(Builder.task(Builder.work_item("item"))))
    wid = api.internal_initialize_root_workflow()
    target = {"path": ["wf", "A", "item"], "parent_workflow_id": wid, "parent_task_name": "A"}
    before = tree(api, wid)

    with pytest.raises(tq.NotInternalMutationError):
        api.initialize_work_item(target)

    assert tree(api, wid) == before
    assert api.list_work_items(wid) == []
    wi = api.internal_initialize_work_item(target)
    assert [w.id for w in api.list_work_items(wid)] == [wi]


def test_default_root_workflow_actions_reject_the_public_api(app):
    api = register(app, one_task_workflow(task_with_items(1)))

    with pytest.raises(tq.NotInternalMutationError):
        api.initialize_root_workflow()
    assert api.list_workflows() == []

    wid = api.internal_initialize_root_workflow()
    before = tree(api, wid)
    with pytest.raises(tq.NotInternalMutationError):
        api.cancel_root_workflow(wid)
    assert tree(api, wid) == before

    api.internal_cancel_root_workflow(wid)
    assert api.get_workflow_state(wid) == "canceled"


def test_default_child_workflow_actions_reject_the_public_api(app):
    child = (
        Builder.workflow("child")
        .start_condition("start")
        .end_condition("end")
        .task("c", task_with_items(1))
        .connect_condition("start", lambda to: to.task("c"))
        .connect_task("c", lambda to: to.condition("end"))
    )
    api = register(app, composite_workflow(child, creates_child=False))
    wid = api.internal_initialize_root_workflow()
    target = {"path": ["parent", "P", "child"], "parent_workflow_id": wid, "parent_task_name": "P"}
    before = tree(api, wid)

    with pytest.raises(tq.NotInternalMutationError):
        api.initialize_workflow(target)
    assert tree(api, wid) == before
    assert api.list_child_workflows(wid, "P") == []

    child_id = api.internal_initialize_workflow(target)
    before = tree(api, wid)
    with pytest.raises(tq.NotInternalMutationError):
        api.cancel_workflow(child_id)
    assert tree(api, wid) == before

    api.internal_cancel_workflow(child_id)
    assert api.get_workflow_state(child_id) == "canceled"


# --- custom actions and their payloads -------------------------------------------------------


def test_custom_complete_action_receives_the_validated_model_from_the_public_api(app):
    received: list[Any] = []

    def complete(ctx: Any, payload: ReviewResult) -> None:
        received.append(payload)

    item = with_actions(complete=(ReviewResult, complete))
    api = register(app, one_task_workflow(task_with_items(1, item)))
    wid = api.internal_initialize_root_workflow()
    (wi,) = (w.id for w in api.list_work_items(wid))
    api.internal_start_work_item(wi)

    api.complete_work_item(wi, {"approved": True, "score": 7})

    assert received == [ReviewResult(approved=True, score=7)]
    assert isinstance(received[0], ReviewResult)
    assert api.get_work_item_state(wi) == "completed"
    assert api.get_workflow_state(wid) == "completed"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"approved": True, "score": "lots"}, "score"),
        ({"approved": True}, "score"),
        ({"approved": "maybe-not", "score": 3}, "approved"),
    ],
)
def test_invalid_payload_raises_payload_validation_error_naming_the_field(app, payload, field):
    received: list[Any] = []
    item = with_actions(complete=(ReviewResult, lambda ctx, p: received.append(p)))
    api = register(app, one_task_workflow(task_with_items(1, item)))
    wid = api.internal_initialize_root_workflow()
    (wi,) = (w.id for w in api.list_work_items(wid))
    api.internal_start_work_item(wi)
    before = tree(api, wid)

    with pytest.raises(tq.PayloadValidationError) as raised:
        api.complete_work_item(wi, payload)

    assert isinstance(raised.value, ValueError)
    assert isinstance(raised.value, tq.TasquencerError)
    assert field in str(raised.value)
    assert received == []
    assert tree(api, wid) == before
    assert api.get_work_item_state(wi) == "started"


def test_invalid_payload_is_rejected_from_the_internal_api_too(app):
    item = with_actions(complete=(ReviewResult, lambda ctx, p: None))
    api = register(app, one_task_workflow(task_with_items(1, item)))
    wid = api.internal_initialize_root_workflow()
    (wi,) = (w.id for w in api.list_work_items(wid))
    api.internal_start_work_item(wi)
    before = tree(api, wid)

    with pytest.raises(tq.PayloadValidationError) as raised:
        api.internal_complete_work_item(wi, {"approved": None, "score": 1})

    assert "approved" in str(raised.value)
    assert tree(api, wid) == before


def test_schema_none_accepts_no_payload(app):
    received: list[Any] = []
    item = with_actions(start=(None, lambda ctx, p: received.append(p)))
    api = register(app, one_task_workflow(task_with_items(2, item)))
    wid = api.internal_initialize_root_workflow()
    first, second = (w.id for w in api.list_work_items(wid))
    before = tree(api, wid)

    with pytest.raises(tq.PayloadValidationError):
        api.start_work_item(first, {"anything": 1})
    assert tree(api, wid) == before
    assert received == []

    api.start_work_item(first)
    api.start_work_item(payload=None, work_item_id=second)
    assert received == [None, None]
    assert [w.state for w in api.list_work_items(wid)] == ["started", "started"]


@pytest.mark.parametrize("payload", [None, 3, "text", [1, "two"], {"nested": {"n": 1}}])
def test_schema_any_passes_any_payload_through_unchanged(app, payload):
    received: list[Any] = []
    item = with_actions(cancel=(Any, lambda ctx, p: received.append(p)))
    api = register(app, one_task_workflow(task_with_items(1, item)))
    wid = api.internal_initialize_root_workflow()
    (wi,) = (w.id for w in api.list_work_items(wid))

    api.cancel_work_item(wi, payload)

    assert received == [payload]
    assert api.get_work_item_state(wi) == "canceled"


def test_ctx_is_internal_is_false_from_the_public_api_and_true_from_internal_calls(app):
    seen: list[tuple[str, bool]] = []
    item = with_actions(start=(None, lambda ctx, p: seen.append(("action", ctx.is_internal))))
    item = item.with_activities(on_started=lambda ctx: seen.append(("activity", ctx.is_internal)))
    api = register(app, one_task_workflow(task_with_items(2, item)))
    wid = api.internal_initialize_root_workflow()
    first, second = (w.id for w in api.list_work_items(wid))

    api.start_work_item(first)
    assert seen == [("action", False), ("activity", False)]
    seen.clear()
    api.internal_start_work_item(second)
    assert seen == [("action", True), ("activity", True)]


def test_action_callback_context_performs_the_transition_and_names_the_parent(app):
    seen: dict[str, Any] = {}
    api_holder: list[Any] = []

    def complete(ctx: Any, payload: ReviewResult) -> None:
        api = api_holder[0]
        seen["id"] = ctx.work_item.id
        seen["workflow"] = (ctx.parent.workflow.id, ctx.parent.workflow.name)
        seen["task"] = (ctx.parent.task.name, ctx.parent.task.generation)
        seen["state_before"] = api.get_work_item_state(ctx.work_item.id, ctx=ctx)
        seen["returned"] = ctx.work_item.complete()
        seen["state_after"] = api.get_work_item_state(ctx.work_item.id, ctx=ctx)

    item = with_actions(complete=(ReviewResult, complete))
    api = register(app, one_task_workflow(task_with_items(1, item)))
    api_holder.append(api)
    wid = api.internal_initialize_root_workflow()
    (wi,) = (w.id for w in api.list_work_items(wid))
    api.internal_start_work_item(wi)

    api.complete_work_item(wi, {"approved": False, "score": 0})

    assert seen == {
        "id": wi,
        "workflow": (wid, "wf"),
        "task": ("A", 1),
        "state_before": "started",
        "returned": wi,
        "state_after": "completed",
    }
    assert api.get_work_item_state(wi) == "completed"


def test_custom_initialize_action_creates_the_item_with_ctx_work_item_initialize(app):
    seen: list[Any] = []

    def initialize(ctx: Any, payload: ItemInput) -> None:
        wi = ctx.work_item.initialize()
        seen.append(
            (
                wi,
                ctx.work_item.initialize(),  # idempotent: the same item
                payload.title,
                ctx.parent.workflow.id,
                ctx.parent.workflow.name,
                ctx.parent.task.name,
                ctx.parent.task.generation,
                ctx.is_internal,
            )
        )

    item = with_actions(initialize=(ItemInput, initialize))
    api = register(app, one_task_workflow(Builder.task(item)))
    wid = api.internal_initialize_root_workflow()
    target = {"path": ["wf", "A", "item"], "parent_workflow_id": wid, "parent_task_name": "A"}

    wi = api.initialize_work_item(target, {"title": "draft"})

    assert seen == [(wi, wi, "draft", wid, "wf", "A", 1, False)]
    assert [(w.id, w.state) for w in api.list_work_items(wid)] == [(wi, "initialized")]


def test_custom_initialize_action_with_an_invalid_payload_creates_nothing(app):
    calls: list[Any] = []
    item = with_actions(initialize=(ItemInput, lambda ctx, p: calls.append(p)))
    api = register(app, one_task_workflow(Builder.task(item)))
    wid = api.internal_initialize_root_workflow()
    target = {"path": ["wf", "A", "item"], "parent_workflow_id": wid, "parent_task_name": "A"}
    before = tree(api, wid)

    with pytest.raises(tq.PayloadValidationError) as raised:
        api.initialize_work_item(target, {"title": 42})

    assert "title" in str(raised.value)
    assert calls == []
    assert api.list_work_items(wid) == []
    assert tree(api, wid) == before


# --- workflow actions ------------------------------------------------------------------------


class Order(pydantic.BaseModel):
    customer: str


class CancelReason(pydantic.BaseModel):
    reason: str


def workflow_with_actions(seen: list[Any]) -> Any:
    def initialize(ctx: Any, payload: Order) -> None:
        wid = ctx.workflow.initialize()
        seen.append(
            (
                "initialize",
                wid,
                ctx.workflow.initialize(),
                ctx.workflow.name,
                ctx.parent,
                payload,
                ctx.is_internal,
            )
        )

    def cancel(ctx: Any, payload: CancelReason) -> None:
        seen.append(("cancel", ctx.workflow.id, ctx.workflow.name, payload, ctx.is_internal))
        ctx.workflow.cancel()

    return one_task_workflow(task_with_items(1), name="orders").with_actions(
        Builder.workflow_actions().initialize(Order, initialize).cancel(CancelReason, cancel)
    )


def test_custom_workflow_initialize_action_creates_the_workflow_and_returns_its_id(app):
    seen: list[Any] = []
    api = register(app, workflow_with_actions(seen))

    wid = api.initialize_root_workflow({"customer": "acme"})

    assert seen == [("initialize", wid, wid, "orders", None, Order(customer="acme"), False)]
    snap = api.get_workflow_snapshot(wid)
    assert snap.state == "initialized"
    assert snap.tasks["A"].state == "enabled"
    assert [w.id for w in api.list_workflows()] == [wid]


def test_custom_workflow_initialize_action_with_an_invalid_payload_creates_nothing(app):
    seen: list[Any] = []
    api = register(app, workflow_with_actions(seen))

    with pytest.raises(tq.PayloadValidationError) as raised:
        api.initialize_root_workflow({"client": "acme"})

    assert "customer" in str(raised.value)
    assert seen == []
    assert api.list_workflows() == []


def test_custom_workflow_cancel_action_receives_the_payload_and_cancels(app):
    seen: list[Any] = []
    api = register(app, workflow_with_actions(seen))
    wid = api.initialize_root_workflow({"customer": "acme"})
    seen.clear()

    api.cancel_root_workflow(wid, {"reason": "duplicate"})

    assert seen == [("cancel", wid, "orders", CancelReason(reason="duplicate"), False)]
    snap = api.get_workflow_snapshot(wid)
    assert snap.state == "canceled"
    assert snap.tasks["A"].state == "disabled"
    assert [w.state for w in snap.work_items] == ["canceled"]


def test_custom_workflow_cancel_action_with_an_invalid_payload_changes_nothing(app):
    seen: list[Any] = []
    api = register(app, workflow_with_actions(seen))
    wid = api.initialize_root_workflow({"customer": "acme"})
    seen.clear()
    before = tree(api, wid)

    with pytest.raises(tq.PayloadValidationError) as raised:
        api.cancel_root_workflow(wid, {"why": "duplicate"})

    assert "reason" in str(raised.value)
    assert seen == []
    assert tree(api, wid) == before


def test_child_workflow_initialize_action_sees_its_parent_workflow_and_task(app):
    seen: list[Any] = []

    def initialize(ctx: Any, payload: Order) -> None:
        seen.append(
            (
                ctx.workflow.initialize(),
                ctx.workflow.name,
                ctx.parent.workflow.id,
                ctx.parent.workflow.name,
                ctx.parent.task.name,
                ctx.parent.task.generation,
                payload.customer,
            )
        )

    child = (
        Builder.workflow("child")
        .start_condition("start")
        .end_condition("end")
        .task("c", task_with_items(1))
        .connect_condition("start", lambda to: to.task("c"))
        .connect_task("c", lambda to: to.condition("end"))
        .with_actions(Builder.workflow_actions().initialize(Order, initialize))
    )
    api = register(app, composite_workflow(child, creates_child=False))
    wid = api.internal_initialize_root_workflow()
    target = {"path": ["parent", "P", "child"], "parent_workflow_id": wid, "parent_task_name": "P"}

    child_id = api.initialize_workflow(target, {"customer": "acme"})

    assert seen == [(child_id, "child", wid, "parent", "P", 1, "acme")]
    assert [(c.id, c.name, c.state, c.generation) for c in api.list_child_workflows(wid, "P")] == [
        (child_id, "child", "initialized", 1)
    ]
