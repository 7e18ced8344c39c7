"""Time travel is exact: random workflows driven by random calls; after every call the snapshots
of the tree are recorded with the clock's time, and `get_workflow_state_at` at each of those
times gives back exactly those snapshots, root and children, resets and failures included."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tasquencer as tq
from tasquencer import Builder


def manual_task() -> Any:
    """A task whose one work item the test drives (no auto-start)."""
    return Builder.task(Builder.work_item("item")).with_activities(
        on_enabled=lambda ctx: ctx.work_item.initialize()
    )


def child_workflow() -> Any:
    return (
        Builder.workflow("child")
        .start_condition("cs")
        .end_condition("ce")
        .task("c1", manual_task())
        .task("c2", manual_task())
        .connect_condition("cs", lambda to: to.task("c1"))
        .connect_task("c1", lambda to: to.task("c2"))
        .connect_task("c2", lambda to: to.condition("ce"))
    )


def sequence() -> Any:
    return (
        Builder.workflow("sequence")
        .start_condition("start")
        .end_condition("end")
        .task("A", manual_task())
        .task("B", manual_task())
        .task("C", manual_task())
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.task("B"))
        .connect_task("B", lambda to: to.task("C"))
        .connect_task("C", lambda to: to.condition("end"))
    )


def splits(split: str) -> Any:
    def route(ctx: Any) -> Any:
        routes = [ctx.route.to_task("B"), ctx.route.to_task("C")]
        return routes[0] if split == "xor" else routes

    a = manual_task().with_split_type(split)

    def outputs(to: Any) -> Any:
        both = to.task("B").task("C")
        return both if split == "and" else both.route(route)

    return (
        Builder.workflow(f"split_{split}")
        .start_condition("start")
        .end_condition("end")
        .task("A", a)
        .task("B", manual_task())
        .task("C", manual_task())
        .task("D", manual_task().with_join_type(split))
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", outputs)
        .connect_task("B", lambda to: to.task("D"))
        .connect_task("C", lambda to: to.task("D"))
        .connect_task("D", lambda to: to.condition("end"))
    )


def loop() -> Any:
    def again(ctx: Any) -> Any:
        return ctx.route.to_task("A") if ctx.task.generation < 3 else ctx.route.to_task("B")

    return (
        Builder.workflow("loop")
        .start_condition("start")
        .end_condition("end")
        .task("A", manual_task().with_join_type("xor").with_split_type("xor"))
        .task("B", manual_task())
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.task("A").task("B").route(again))
        .connect_task("B", lambda to: to.condition("end"))
    )


def composite_with_region() -> Any:
    create = Builder.composite_task(child_workflow()).with_activities(
        on_enabled=lambda ctx: ctx.workflow.initialize()
    )
    return (
        Builder.workflow("composite")
        .start_condition("start")
        .end_condition("end")
        .task("A", manual_task().with_split_type("and"))
        .composite_task("sub", create)
        .task("quick", manual_task())
        .dummy_task("done", Builder.dummy_task().with_join_type("xor"))
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.task("sub").task("quick"))
        .connect_task("sub", lambda to: to.task("done"))
        .connect_task("quick", lambda to: to.task("done"))
        .connect_task("done", lambda to: to.condition("end"))
        .with_cancellation_region("quick", lambda cr: cr.task("sub"))
    )


SHAPES = {
    "sequence": sequence,
    "split_and": lambda: splits("and"),
    "split_xor": lambda: splits("xor"),
    "split_or": lambda: splits("or"),
    "loop": loop,
    "composite": composite_with_region,
}
# What each state allows, mostly; now and then an action the state refuses.
ITEM_ACTIONS = {
    "initialized": ("start", "start", "start", "cancel", "complete"),
    "started": ("complete", "complete", "complete", "fail", "cancel", "reset", "reset", "start"),
}


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Any:
    app = tq.testing.create_app(
        tmp_path_factory.mktemp("audit") / "app.db", audit=tq.Audit(checkpoint_every=7)
    )
    apis = {
        name: app.register(tq.versions(name).version("v1", make())).api("v1")
        for name, make in SHAPES.items()
    }
    yield app, apis
    app.close()


def tree_of(api: tq.WorkflowApi, root: str) -> list[str]:
    """The root and every child workflow under it."""
    found, todo = [], [root]
    while todo:
        workflow_id = todo.pop()
        found.append(workflow_id)
        todo.extend(c.id for c in api.list_child_workflows(workflow_id))
    return found


def one_call(api: tq.WorkflowApi, root: str, data: st.DataObject) -> None:
    """A random call on the tree: an action on one of its work items, or a cancel."""
    workflows = tree_of(api, root)
    items = [i for w in workflows for i in api.list_work_items(w) if i.state in ITEM_ACTIONS]
    choice = data.draw(st.sampled_from(("item",) * 18 + ("cancel_child", "cancel_root")))
    try:
        if choice == "item" and items:
            item = data.draw(st.sampled_from(items))
            action = data.draw(st.sampled_from(ITEM_ACTIONS[item.state]))
            getattr(api, f"internal_{action}_work_item")(item.id)
        elif choice == "cancel_child" and len(workflows) > 1:
            api.internal_cancel_workflow(data.draw(st.sampled_from(workflows[1:])))
        elif choice == "cancel_root":
            api.internal_cancel_root_workflow(root)
    except tq.TasquencerError:
        pass  # refused: changes nothing, which the snapshots check too


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(shape=st.sampled_from(sorted(SHAPES)), data=st.data())
def test_the_state_at_every_past_call_is_exactly_the_snapshot_taken_then(audited, shape, data):
    app, apis = audited
    api = apis[shape]
    created = app.clock.now()
    root = api.internal_initialize_root_workflow()
    seen: list[tuple[Any, dict[str, tq.WorkflowSnapshot]]] = []
    for _ in range(data.draw(st.integers(min_value=3, max_value=20), label="calls")):
        seen.append(
            (app.clock.now(), {w: api.get_workflow_snapshot(w) for w in tree_of(api, root)})
        )
        app.clock.advance(1)
        one_call(api, root, data)
    seen.append((app.clock.now(), {w: api.get_workflow_snapshot(w) for w in tree_of(api, root)}))
    app.clock.advance(1)
    for when, snapshots in seen:
        for workflow_id, snapshot in snapshots.items():
            assert api.get_workflow_state_at(workflow_id, when) == snapshot, (when, workflow_id)
    with pytest.raises(tq.WorkflowNotYetCreatedError, match=root):
        api.get_workflow_state_at(root, created - timedelta(seconds=1))


def test_a_migration_is_travelled_through_on_both_sides(tmp_path):
    v1 = sequence()
    v2 = sequence()
    migration = tq.migrate(v1, v2).with_task_migrators(
        {"sequence/A": lambda ctx: tq.MigrationMode.FAST_FORWARD}
    )
    with tq.testing.create_app(tmp_path / "migrate.db") as app:
        versions = app.register(
            tq.versions("sequence")
            .version("v1", v1)
            .version("v2", v2)
            .with_migration("v1->v2", migration)
        )
        old_api, new_api = versions.api("v1"), versions.api("v2")
        old = old_api.internal_initialize_root_workflow()
        (item,) = old_api.list_work_items(old)
        old_api.internal_start_work_item(item.id)
        old_api.internal_complete_work_item(item.id)
        before = app.clock.now()
        snapshot_before = old_api.get_workflow_snapshot(old)
        app.clock.advance(1)
        new = app.migrate(old, to_version="v2")
        after = app.clock.now()
        assert old_api.get_workflow_state_at(old, before) == snapshot_before
        assert old_api.get_workflow_state_at(old, after) == old_api.get_workflow_snapshot(old)
        assert old_api.get_workflow_state_at(old, after).migrated_to == new
        assert new_api.get_workflow_state_at(new, after) == new_api.get_workflow_snapshot(new)
        assert new_api.get_workflow_state_at(new, after).migrated_from == old
        with pytest.raises(tq.WorkflowNotYetCreatedError):
            new_api.get_workflow_state_at(new, before)
