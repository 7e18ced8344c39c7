"""Work items through the public API: several per task, the default policy, dynamic creation,
reset, initialization by target, and the guards of docs/semantics.md, section 1.5 (each
leaves the state untouched)."""

from __future__ import annotations

from typing import Any

import pytest

import tasquencer as tq
from tasquencer import Builder
from tests.helpers import one_task_workflow

# --- helpers (local to this file) ------------------------------------------------------------


def register(app: Any, wf: Any) -> Any:
    return app.register(tq.versions(wf.name).version("v1", wf)).api("v1")


def two_task_workflow(a: Any, b: Any, name: str = "wf") -> Any:
    """start -> A -> B -> end."""
    return (
        Builder.workflow(name)
        .start_condition("start")
        .end_condition("end")
        .task("A", a)
        .task("B", b)
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.task("B"))
        .connect_task("B", lambda to: to.condition("end"))
    )


def task_with_items(n: int, item: Any = None, **activities: Any) -> Any:
    """A task whose `on_enabled` creates `n` work items (none starts by itself)."""

    def on_enabled(ctx: Any) -> None:
        for _ in range(n):
            ctx.work_item.initialize()

    return Builder.task(item or Builder.work_item("item")).with_activities(
        on_enabled=on_enabled, **activities
    )


def tree(api: Any, workflow_id: str) -> dict[str, Any]:
    """Snapshots of a workflow and all its descendants: 'nothing changed' compares these."""
    snapshots: dict[str, Any] = {}
    pending = [workflow_id]
    while pending:
        wid = pending.pop()
        snapshots[wid] = api.get_workflow_snapshot(wid)
        pending.extend(c.id for c in snapshots[wid].child_workflows)
    return snapshots


def item_states(api: Any, wid: str, task: str = "A") -> list[str]:
    return [w.state for w in api.list_work_items(wid, task_name=task)]


def default_like_policy(calls: list[tuple[str, str]]) -> Any:
    """Records each call's transition and decides as the default task policy does."""

    def policy(ctx: Any) -> str:
        calls.append((ctx.transition.prev_state, ctx.transition.next_state))
        if ctx.transition.next_state == "failed":
            return "fail"
        if ctx.transition.next_state not in ("completed", "canceled"):
            return "continue"
        s = ctx.task.get_stats()
        return "complete" if s.completed + s.failed + s.canceled == s.total else "continue"

    return policy


# --- several work items and the default policy -----------------------------------------------


def test_task_with_three_work_items_completes_only_when_all_three_are_completed(app):
    api = register(app, one_task_workflow(task_with_items(3)))
    wid = api.internal_initialize_root_workflow()
    items = api.list_work_items(wid, task_name="A")
    assert [(w.name, w.state, w.task_name, w.generation) for w in items] == [
        ("item", "initialized", "A", 1)
    ] * 3
    for w in items:
        api.internal_start_work_item(w.id)
    api.internal_complete_work_item(items[0].id)
    api.internal_complete_work_item(items[1].id)

    snap = api.get_workflow_snapshot(wid)
    assert snap.state == "started"
    assert snap.tasks["A"].state == "started"
    assert snap.conditions == {"start": 0, "end": 0}
    assert item_states(api, wid) == ["completed", "completed", "started"]

    api.internal_complete_work_item(items[2].id)
    snap = api.get_workflow_snapshot(wid)
    assert snap.state == "completed"
    assert snap.tasks["A"].state == "completed"
    assert snap.tasks["A"].generation == 1
    assert snap.conditions == {"start": 0, "end": 1}
    assert item_states(api, wid) == ["completed"] * 3


def test_task_completes_when_its_last_open_work_item_is_canceled(app):
    api = register(app, one_task_workflow(task_with_items(2)))
    wid = api.internal_initialize_root_workflow()
    first, second = api.list_work_items(wid)
    api.internal_start_work_item(first.id)
    api.internal_start_work_item(second.id)
    api.internal_complete_work_item(first.id)
    assert api.get_workflow_snapshot(wid).tasks["A"].state == "started"

    api.internal_cancel_work_item(second.id)

    snap = api.get_workflow_snapshot(wid)
    assert item_states(api, wid) == ["completed", "canceled"]
    assert snap.tasks["A"].state == "completed"
    assert snap.state == "completed"
    assert snap.conditions["end"] == 1


def test_task_completes_when_every_work_item_is_canceled(app):
    api = register(app, one_task_workflow(task_with_items(2)))
    wid = api.internal_initialize_root_workflow()
    first, second = api.list_work_items(wid)
    api.internal_start_work_item(first.id)

    api.internal_cancel_work_item(second.id)  # initialized -> canceled, first still open
    assert api.get_workflow_snapshot(wid).tasks["A"].state == "started"
    api.internal_cancel_work_item(first.id)  # started -> canceled, all finalized

    snap = api.get_workflow_snapshot(wid)
    assert item_states(api, wid) == ["canceled", "canceled"]
    assert snap.tasks["A"].state == "completed"
    assert snap.state == "completed"
    assert snap.conditions == {"start": 0, "end": 1}


def test_canceling_the_only_work_item_of_a_task_that_never_started_leaves_it_enabled(app):
    """§17.1: completion requires a started task, so the cancel completes nothing."""
    api = register(app, one_task_workflow(task_with_items(1)))
    wid = api.internal_initialize_root_workflow()
    (item,) = api.list_work_items(wid)

    api.internal_cancel_work_item(item.id)

    snap = api.get_workflow_snapshot(wid)
    assert item_states(api, wid) == ["canceled"]
    assert snap.tasks["A"].state == "enabled"
    assert snap.state == "initialized"
    assert snap.conditions == {"start": 1, "end": 0}


def test_one_failed_work_item_fails_the_task_cancels_the_open_ones_and_fails_the_workflow(app):
    canceled: list[str] = []
    changes: list[tuple[str, str, str]] = []
    item = Builder.work_item("item").with_activities(
        on_canceled=lambda ctx: canceled.append(ctx.work_item.id)
    )

    def on_changed(ctx: Any) -> None:
        changes.append((ctx.work_item.id, ctx.work_item.prev_state, ctx.work_item.next_state))

    api = register(
        app, one_task_workflow(task_with_items(4, item, on_work_item_state_changed=on_changed))
    )
    wid = api.internal_initialize_root_workflow()
    a, b, c, d = (w.id for w in api.list_work_items(wid))
    for started in (a, c, d):
        api.internal_start_work_item(started)
    api.internal_complete_work_item(d)
    changes.clear()

    api.internal_fail_work_item(a)

    assert [(w.id, w.state) for w in api.list_work_items(wid)] == [
        (a, "failed"),
        (b, "canceled"),
        (c, "canceled"),
        (d, "completed"),
    ]
    # Cancellation (§10): the initialized ones are torn down first, then the started ones.
    assert canceled == [b, c]
    assert changes == [
        (a, "started", "failed"),
        (b, "initialized", "canceled"),
        (c, "started", "canceled"),
    ]
    snap = api.get_workflow_snapshot(wid)
    assert snap.tasks["A"].state == "failed"
    assert snap.state == "failed"
    assert snap.conditions == {"start": 0, "end": 0}


# --- dynamic creation and get_all_work_item_ids ----------------------------------------------


def test_work_items_created_in_on_work_item_state_changed_keep_the_task_running(app):
    seen: list[list[str]] = []
    created: list[str] = []

    def on_changed(ctx: Any) -> None:
        if ctx.work_item.next_state != "completed":
            return
        ids = ctx.work_item.get_all_work_item_ids()
        seen.append(list(ids))
        if len(ids) < 3:
            created.append(ctx.work_item.initialize())

    api = register(
        app, one_task_workflow(task_with_items(1, on_work_item_state_changed=on_changed))
    )
    wid = api.internal_initialize_root_workflow()
    (first,) = api.list_work_items(wid)

    api.internal_start_work_item(first.id)
    api.internal_complete_work_item(first.id)
    assert item_states(api, wid) == ["completed", "initialized"]
    assert api.get_workflow_snapshot(wid).tasks["A"].state == "started"

    for _ in range(2):
        (open_item,) = api.list_work_items(wid, state="initialized")
        api.internal_start_work_item(open_item.id)
        api.internal_complete_work_item(open_item.id)

    ids = [w.id for w in api.list_work_items(wid)]
    assert ids == [first.id, *created]
    assert seen == [ids[:1], ids[:2], ids]
    assert item_states(api, wid) == ["completed"] * 3
    snap = api.get_workflow_snapshot(wid)
    assert snap.tasks["A"].state == "completed"
    assert snap.state == "completed"
    assert snap.conditions["end"] == 1


def test_get_all_work_item_ids_lists_the_generation_s_items_oldest_first(app):
    seen: list[list[str]] = []
    returned: list[str] = []

    def on_enabled(ctx: Any) -> None:
        seen.append(ctx.work_item.get_all_work_item_ids())
        for _ in range(2):
            returned.append(ctx.work_item.initialize())
            seen.append(ctx.work_item.get_all_work_item_ids())

    task = Builder.task(Builder.work_item("item")).with_activities(on_enabled=on_enabled)
    api = register(app, one_task_workflow(task))
    wid = api.internal_initialize_root_workflow()

    ids = [w.id for w in api.list_work_items(wid)]
    assert ids == returned
    assert seen == [[], ids[:1], ids]


# --- reset -----------------------------------------------------------------------------------


def test_reset_returns_a_started_work_item_to_initialized_without_asking_the_policy(app):
    log: list[str] = []
    policy_calls: list[tuple[str, str]] = []
    item = Builder.work_item("item").with_activities(
        on_started=lambda ctx: log.append("item.on_started"),
        on_reset=lambda ctx: log.append(f"item.on_reset:{ctx.work_item.id}"),
    )

    def on_changed(ctx: Any) -> None:
        log.append(f"A.changed[{ctx.work_item.prev_state}->{ctx.work_item.next_state}]")

    task = task_with_items(1, item, on_work_item_state_changed=on_changed).with_policy(
        default_like_policy(policy_calls)
    )
    api = register(app, one_task_workflow(task))
    wid = api.internal_initialize_root_workflow()
    (wi,) = api.list_work_items(wid)
    api.internal_start_work_item(wi.id)
    assert policy_calls == [("started", "completed")]  # the evaluation right after the start
    log.clear()

    api.internal_reset_work_item(wi.id)

    assert api.get_work_item_state(wi.id) == "initialized"
    snap = api.get_workflow_snapshot(wid)
    assert snap.tasks["A"].state == "started"
    assert snap.tasks["A"].generation == 1
    assert snap.state == "started"
    assert log == [f"item.on_reset:{wi.id}", "A.changed[started->initialized]"]
    assert policy_calls == [("started", "completed")]

    log.clear()
    api.internal_start_work_item(wi.id)
    assert api.get_work_item_state(wi.id) == "started"
    assert log == ["item.on_started", "A.changed[initialized->started]"]
    assert policy_calls == [("started", "completed")]

    api.internal_complete_work_item(wi.id)
    assert policy_calls == [("started", "completed"), ("started", "completed")]
    snap = api.get_workflow_snapshot(wid)
    assert snap.tasks["A"].state == "completed"
    assert snap.state == "completed"


# --- initializing through the API ------------------------------------------------------------


def test_internal_initialize_work_item_accepts_a_dict_target_and_a_target_dataclass(app):
    api = register(app, one_task_workflow(Builder.task(Builder.work_item("item"))))
    wid = api.internal_initialize_root_workflow()
    assert api.list_work_items(wid) == []
    assert api.get_workflow_snapshot(wid).tasks["A"].state == "enabled"

    from_dict = api.internal_initialize_work_item(
        {"path": ["wf", "A", "item"], "parent_workflow_id": wid, "parent_task_name": "A"}
    )
    from_dataclass = api.internal_initialize_work_item(
        target=tq.Target(("wf", "A", "item"), wid, "A"), payload={"note": "second"}
    )

    items = api.list_work_items(wid)
    assert [(w.id, w.name, w.state, w.task_name, w.generation) for w in items] == [
        (from_dict, "item", "initialized", "A", 1),
        (from_dataclass, "item", "initialized", "A", 1),
    ]
    snap = api.get_workflow_snapshot(wid)
    assert snap.tasks["A"].state == "enabled"
    assert snap.state == "initialized"

    api.internal_start_work_item(from_dict)
    snap = api.get_workflow_snapshot(wid)
    assert snap.tasks["A"].state == "started"
    assert snap.state == "started"


def test_initialize_work_item_with_a_path_not_through_the_task_raises_and_changes_nothing(app):
    api = register(app, one_task_workflow(Builder.task(Builder.work_item("item"))))
    wid = api.internal_initialize_root_workflow()
    before = tree(api, wid)

    with pytest.raises(tq.ElementNotFoundInPathError):
        api.internal_initialize_work_item(
            {"path": ["wf", "B", "item"], "parent_workflow_id": wid, "parent_task_name": "A"}
        )
    with pytest.raises(tq.WorkflowNotFoundError):
        api.internal_initialize_work_item(
            {"path": ["wf", "A", "item"], "parent_workflow_id": "nope", "parent_task_name": "A"}
        )
    assert tree(api, wid) == before


# --- guards: each raises its typed error and changes nothing ---------------------------------


def started_item(app: Any, n: int = 1) -> tuple[Any, str, list[str]]:
    api = register(app, one_task_workflow(task_with_items(n)))
    wid = api.internal_initialize_root_workflow()
    ids = [w.id for w in api.list_work_items(wid)]
    api.internal_start_work_item(ids[0])
    return api, wid, ids


def test_starting_a_started_work_item_raises_work_item_invalid_state(app):
    api, wid, (wi,) = started_item(app)
    before = tree(api, wid)

    with pytest.raises(tq.WorkItemInvalidStateError) as raised:
        api.internal_start_work_item(wi)

    assert isinstance(raised.value, tq.InvalidStateTransitionError)
    assert wi in str(raised.value)
    assert "started" in str(raised.value)
    assert tree(api, wid) == before


@pytest.mark.parametrize("action", ["complete", "fail", "reset"])
def test_finishing_or_resetting_an_initialized_work_item_raises_work_item_invalid_state(
    app, action
):
    api = register(app, one_task_workflow(task_with_items(1)))
    wid = api.internal_initialize_root_workflow()
    (wi,) = (w.id for w in api.list_work_items(wid))
    before = tree(api, wid)

    with pytest.raises(tq.WorkItemInvalidStateError) as raised:
        getattr(api, f"internal_{action}_work_item")(wi)

    assert isinstance(raised.value, tq.InvalidStateTransitionError)
    assert wi in str(raised.value)
    assert "initialized" in str(raised.value)
    assert tree(api, wid) == before


@pytest.mark.parametrize("action", ["start", "complete", "fail", "cancel", "reset"])
def test_any_action_on_a_completed_work_item_raises_work_item_invalid_state(app, action):
    api, wid, (done, other) = started_item(app, n=2)
    api.internal_complete_work_item(done)
    assert api.get_workflow_snapshot(wid).tasks["A"].state == "started"
    before = tree(api, wid)

    with pytest.raises(tq.WorkItemInvalidStateError) as raised:
        getattr(api, f"internal_{action}_work_item")(done)

    assert "completed" in str(raised.value)
    assert tree(api, wid) == before
    assert api.get_work_item_state(other) == "initialized"


def test_initializing_a_work_item_on_a_disabled_task_raises_task_invalid_state(app):
    api = register(
        app,
        two_task_workflow(task_with_items(1), Builder.task(Builder.work_item("item_b"))),
    )
    wid = api.internal_initialize_root_workflow()
    assert api.get_workflow_snapshot(wid).tasks["B"].state == "disabled"
    before = tree(api, wid)

    with pytest.raises(tq.TaskInvalidStateError) as raised:
        api.internal_initialize_work_item(
            {"path": ["wf", "B", "item_b"], "parent_workflow_id": wid, "parent_task_name": "B"}
        )

    assert isinstance(raised.value, tq.InvalidStateTransitionError)
    assert "disabled" in str(raised.value)
    assert tree(api, wid) == before


def test_initializing_a_work_item_on_a_completed_task_raises_task_invalid_state(app):
    api = register(
        app,
        two_task_workflow(task_with_items(1), Builder.task(Builder.work_item("item_b"))),
    )
    wid = api.internal_initialize_root_workflow()
    (wi,) = api.list_work_items(wid)
    api.internal_start_work_item(wi.id)
    api.internal_complete_work_item(wi.id)
    snap = api.get_workflow_snapshot(wid)
    assert (snap.tasks["A"].state, snap.tasks["B"].state) == ("completed", "enabled")
    before = tree(api, wid)

    with pytest.raises(tq.TaskInvalidStateError) as raised:
        api.internal_initialize_work_item(
            {"path": ["wf", "A", "item"], "parent_workflow_id": wid, "parent_task_name": "A"}
        )

    assert isinstance(raised.value, tq.InvalidStateTransitionError)
    assert "completed" in str(raised.value)
    assert tree(api, wid) == before


@pytest.mark.parametrize("action", ["start", "complete", "fail", "cancel", "reset"])
@pytest.mark.parametrize("prefix", ["", "internal_"])
def test_an_unknown_work_item_id_raises_work_item_not_found(app, action, prefix):
    api, wid, _ = started_item(app)
    before = tree(api, wid)

    with pytest.raises(tq.WorkItemNotFoundError) as raised:
        getattr(api, f"{prefix}{action}_work_item")("no-such-item")

    assert isinstance(raised.value, tq.EntityNotFoundError)
    assert "no-such-item" in str(raised.value)
    assert tree(api, wid) == before


def test_reading_an_unknown_work_item_raises_work_item_not_found(app):
    api, _, _ = started_item(app)
    with pytest.raises(tq.WorkItemNotFoundError):
        api.get_work_item_state("no-such-item")


def test_a_work_item_of_another_workflow_is_not_found_through_this_api(app):
    api, wid, (wi,) = started_item(app)
    other = register(app, one_task_workflow(task_with_items(1), name="other"))
    before = tree(api, wid)

    with pytest.raises(tq.WorkItemNotFoundError):
        other.internal_complete_work_item(wi)

    assert tree(api, wid) == before


# --- what a command answers ------------------------------------------------------------------


def test_completing_answers_the_work_items_the_call_created_in_their_state_then(app):
    def starts_itself(ctx: tq.WorkItemActivityContext) -> None:
        ctx.work_item.start()

    api = register(
        app,
        two_task_workflow(
            task_with_items(1),
            task_with_items(
                2, Builder.work_item("b").with_activities(on_initialized=starts_itself)
            ),
        ),
    )
    case = api.internal_initialize_root_workflow()
    (a,) = api.list_work_items(case, "A")

    assert api.internal_start_work_item(a.id) == []  # a start creates nothing here
    created = api.internal_complete_work_item(a.id)

    assert created == [item for item in api.list_work_items(case) if item.task_name == "B"]
    assert [(item.name, item.state, item.generation) for item in created] == [
        ("b", "started", 1),
        ("b", "started", 1),
    ]
    assert api.internal_complete_work_item(created[0].id) == []  # B waits for its second item


def test_a_nested_command_answers_only_what_it_created(app):
    api = register(app, two_task_workflow(task_with_items(1), task_with_items(1)))
    case = api.internal_initialize_root_workflow()
    (a,) = api.list_work_items(case, "A")
    api.internal_start_work_item(a.id)

    @app.mutation(name="work_through")
    def work_through(ctx: tq.MutationContext, item_id: str) -> list[list[str]]:
        answers = [api.internal_complete_work_item(item_id, ctx=ctx)]
        (b,) = answers[0]
        answers.append(api.internal_start_work_item(b.id, ctx=ctx))
        answers.append(api.internal_complete_work_item(b.id, ctx=ctx))  # B's item is older
        return [[item.task_name for item in answer] for answer in answers]

    assert app.run_mutation(work_through, item_id=a.id) == [["B"], [], []]


def test_what_a_nested_call_rolled_back_is_not_in_the_answer_of_the_call_around_it(app):
    case: dict[str, str] = {}

    @app.mutation(name="add_then_fail")
    def add_then_fail(ctx: tq.MutationContext) -> None:
        target = {"path": ["wf", "B", "item"], "parent_workflow_id": case["id"]}
        api.internal_initialize_work_item({**target, "parent_task_name": "B"}, ctx=ctx)
        raise RuntimeError("changed my mind")

    def on_enabled(ctx: Any) -> None:
        ctx.work_item.initialize()
        with pytest.raises(RuntimeError):
            app.run_mutation(add_then_fail, ctx=ctx)

    b_task = Builder.task(Builder.work_item("item")).with_activities(on_enabled=on_enabled)
    api = register(app, two_task_workflow(task_with_items(1), b_task))
    case["id"] = api.internal_initialize_root_workflow()
    (a,) = api.list_work_items(case["id"], "A")
    api.internal_start_work_item(a.id)

    created = api.internal_complete_work_item(a.id)

    assert created == api.list_work_items(case["id"], "B")
    assert len(created) == 1
