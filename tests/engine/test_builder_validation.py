"""Definitions are checked when registered; the static structure; builders are immutable values."""

from __future__ import annotations

from typing import Any

import pytest

import tasquencer as tq
from tasquencer import Builder


def item_task(item: str = "item") -> Any:
    return Builder.task(Builder.work_item(item))


def base(name: str = "wf") -> Any:
    """start -> A -> end, the smallest valid workflow."""
    return (
        Builder.workflow(name)
        .start_condition("start")
        .end_condition("end")
        .task("A", item_task())
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.condition("end"))
    )


def route_to_end(ctx: Any) -> Any:
    return ctx.route.to_condition("end")


def assert_rejected(
    app: tq.App, workflow: Any, error: type[Exception], *names: str
) -> tq.WorkflowDefinitionError:
    """Registering `workflow` raises `error` naming every one of `names`; nothing is
    registered, and a valid definition under the same name registers afterwards."""
    assert issubclass(error, tq.WorkflowDefinitionError)
    with pytest.raises(error) as raised:
        app.register(tq.versions(workflow.name).version("v1", workflow))
    for name in names:
        assert repr(name) in str(raised.value) or name in str(raised.value), (
            f"{name!r} not named in: {raised.value}"
        )
    assert not app.is_registered(workflow.name)
    api = app.register(tq.versions(workflow.name).version("v1", base(workflow.name))).api("v1")
    assert api.list_workflows() == []
    return raised.value


# --- start and end conditions ----------------------------------------------------------------


def test_missing_start_condition_is_rejected(app):
    wf = (
        Builder.workflow("wf")
        .condition("start")
        .end_condition("end")
        .task("A", item_task())
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.condition("end"))
    )
    assert_rejected(app, wf, tq.WorkflowMissingStartConditionError, "wf")


def test_missing_end_condition_is_rejected(app):
    wf = (
        Builder.workflow("wf")
        .start_condition("start")
        .condition("end")
        .task("A", item_task())
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.condition("end"))
    )
    assert_rejected(app, wf, tq.WorkflowMissingEndConditionError, "wf")


def test_two_start_conditions_are_rejected(app):
    wf = base().start_condition("start2").connect_condition("start2", lambda to: to.task("A"))
    error = assert_rejected(app, wf, tq.WorkflowMultipleStartConditionsError, "start", "start2")
    assert isinstance(error, tq.WorkflowDefinitionError)


def test_two_end_conditions_are_rejected(app):
    wf = base().end_condition("end2").connect_task("A", lambda to: to.condition("end2"))
    assert_rejected(app, wf, tq.WorkflowMultipleEndConditionsError, "end", "end2")


def test_missing_start_condition_in_a_child_workflow_is_rejected(app):
    child = (
        Builder.workflow("child")
        .end_condition("end")
        .task("t", item_task())
        .connect_task("t", lambda to: to.condition("end"))
    )
    wf = (
        Builder.workflow("wf")
        .start_condition("start")
        .end_condition("end")
        .composite_task("C", Builder.composite_task(child))
        .connect_condition("start", lambda to: to.task("C"))
        .connect_task("C", lambda to: to.condition("end"))
    )
    assert_rejected(app, wf, tq.WorkflowMissingStartConditionError, "child")


# --- unknown names ---------------------------------------------------------------------------


def test_flow_from_a_condition_to_an_unknown_task_is_rejected(app):
    wf = base().connect_condition("start", lambda to: to.task("ghost"))
    assert_rejected(app, wf, tq.UnknownElementError, "ghost")


def test_flow_from_a_task_to_an_unknown_task_is_rejected(app):
    wf = base().connect_task("A", lambda to: to.task("ghost"))
    assert_rejected(app, wf, tq.UnknownElementError, "ghost")


def test_flow_from_a_task_to_an_unknown_condition_is_rejected(app):
    wf = base().connect_task("A", lambda to: to.condition("nowhere"))
    assert_rejected(app, wf, tq.UnknownElementError, "nowhere")


def test_flow_from_an_unknown_condition_is_rejected(app):
    wf = base().connect_condition("nowhere", lambda to: to.task("A"))
    assert_rejected(app, wf, tq.UnknownElementError, "nowhere")


def test_flow_from_an_unknown_task_is_rejected(app):
    wf = base().connect_task("ghost", lambda to: to.condition("end"))
    assert_rejected(app, wf, tq.UnknownElementError, "ghost")


def test_cancellation_region_with_an_unknown_task_is_rejected(app):
    wf = base().with_cancellation_region("A", lambda cr: cr.task("ghost"))
    assert_rejected(app, wf, tq.UnknownElementError, "ghost")


def test_cancellation_region_with_an_unknown_condition_is_rejected(app):
    wf = base().with_cancellation_region("A", lambda cr: cr.condition("nowhere"))
    assert_rejected(app, wf, tq.UnknownElementError, "nowhere")


def test_cancellation_region_of_an_unknown_owner_is_rejected(app):
    wf = base().with_cancellation_region("ghost", lambda cr: cr.condition("start"))
    assert_rejected(app, wf, tq.UnknownElementError, "ghost")


# --- routers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("split", ["xor", "or"])
def test_split_without_router_is_rejected(app, split):
    wf = (
        Builder.workflow("wf")
        .start_condition("start")
        .condition("c")
        .end_condition("end")
        .task("A", item_task().with_split_type(split))
        .task("B", item_task())
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.condition("c").condition("end"))
        .connect_condition("c", lambda to: to.task("B"))
        .connect_task("B", lambda to: to.condition("end"))
    )
    error = assert_rejected(app, wf, tq.TaskMissingRouterError, "A")
    assert split.upper() in str(error) or split in str(error)


@pytest.mark.parametrize("split", ["xor", "or"])
def test_split_with_a_router_but_no_outgoing_flow_is_rejected(app, split):
    wf = (
        Builder.workflow("wf")
        .start_condition("start")
        .end_condition("end")
        .task("A", item_task())
        .task("B", item_task().with_split_type(split))
        .connect_condition("start", lambda to: to.task("A").task("B"))
        .connect_task("A", lambda to: to.condition("end"))
        .connect_task("B", lambda to: to.route(route_to_end))
    )
    error = assert_rejected(app, wf, tq.InvalidFlowError, "B")
    assert "no outgoing flow" in str(error)


# --- reachability ----------------------------------------------------------------------------


def test_unreachable_task_is_rejected(app):
    wf = base().task("B", item_task()).connect_task("B", lambda to: to.condition("end"))
    assert_rejected(app, wf, tq.UnreachableElementError, "B")


def test_unreachable_condition_is_rejected(app):
    wf = base().condition("island")
    assert_rejected(app, wf, tq.UnreachableElementError, "island")


def test_unreachable_task_fed_by_an_unreachable_condition_is_rejected(app):
    wf = (
        base()
        .condition("island")
        .task("B", item_task())
        .connect_condition("island", lambda to: to.task("B"))
        .connect_task("B", lambda to: to.condition("end"))
    )
    assert_rejected(app, wf, tq.UnreachableElementError, "island", "B")


# --- duplicates ------------------------------------------------------------------------------


def test_two_tasks_with_one_name_are_rejected(app):
    wf = base().task("A", item_task("other"))
    assert_rejected(app, wf, tq.DuplicateElementError, "A")


def test_two_conditions_with_one_name_are_rejected(app):
    wf = base().condition("c").condition("c").connect_task("A", lambda to: to.condition("c"))
    assert_rejected(app, wf, tq.DuplicateElementError, "c")


def test_a_task_and_a_condition_with_one_name_are_rejected(app):
    wf = base().condition("A")
    assert_rejected(app, wf, tq.DuplicateElementError, "A")


def test_explicit_condition_clashing_with_an_implicit_one_is_rejected_or_shared(app):
    # `A__to__B` is the implicit condition of A -> B; declaring it explicitly as well must not
    # yield two conditions with one name.
    wf = (
        Builder.workflow("wf")
        .start_condition("start")
        .condition("A__to__B")
        .end_condition("end")
        .task("A", item_task())
        .task("B", item_task())
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.task("B"))
        .connect_task("B", lambda to: to.condition("end"))
    )
    try:
        api = app.register(tq.versions("wf").version("v1", wf)).api("v1")
    except tq.WorkflowDefinitionError as error:
        assert "A__to__B" in str(error)
        return
    names = [c["name"] for c in api.get_workflow_structure()["conditions"]]
    assert names.count("A__to__B") == 1


# --- versions --------------------------------------------------------------------------------


def test_same_version_registered_twice_is_rejected(app):
    versions = tq.versions("wf").version("v1", base()).version("v1", base())
    with pytest.raises(tq.DuplicateVersionError, match="v1"):
        app.register(versions)
    assert not app.is_registered("wf")
    app.register(tq.versions("wf").version("v1", base()))


def test_registering_the_same_workflow_twice_is_rejected(app):
    api = app.register(tq.versions("wf").version("v1", base())).api("v1")
    wid = api.internal_initialize_root_workflow()
    with pytest.raises(tq.WorkflowDefinitionError, match="wf"):
        app.register(tq.versions("wf").version("v1", base()).version("v2", base()))
    with pytest.raises(tq.WorkflowDefinitionError, match="wf"):
        app.register(base())
    # The first registration is untouched.
    assert [w.id for w in api.list_workflows()] == [wid]
    assert api.get_workflow_state(wid) == "initialized"


def test_a_broken_later_version_registers_nothing(app):
    broken = base().connect_task("A", lambda to: to.task("ghost"))
    with pytest.raises(tq.UnknownElementError, match="ghost"):
        app.register(tq.versions("wf").version("v1", base()).version("v2", broken))
    assert not app.is_registered("wf")


def test_version_of_another_workflow_name_is_rejected(app):
    with pytest.raises(tq.WorkflowDefinitionError, match="other"):
        app.register(tq.versions("wf").version("v1", base("other")))
    assert not app.is_registered("wf")
    assert not app.is_registered("other")


# --- structure -------------------------------------------------------------------------------


def test_structure_describes_tasks_conditions_flows_and_regions(app):
    wf = (
        Builder.workflow("shape")
        .start_condition("start")
        .condition("c")
        .end_condition("end")
        .task("A", item_task("a_item").with_split_type("xor"))
        .task("B", item_task("b_item").with_join_type("xor"))
        .dummy_task("D", Builder.dummy_task())
        .connect_condition("start", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.task("B").condition("c").route(route_to_end))
        .connect_condition("c", lambda to: to.task("B").task("D"))
        .connect_task("B", lambda to: to.condition("end"))
        .connect_task("D", lambda to: to.condition("end"))
        .with_cancellation_region("B", lambda cr: cr.task("D").condition("c"))
    )
    api = app.register(tq.versions("shape").version("v1", wf)).api("v1")
    structure = api.get_workflow_structure()

    assert structure["name"] == "shape"
    tasks = {t["name"]: t for t in structure["tasks"]}
    assert [t["name"] for t in structure["tasks"]] == ["A", "B", "D"]
    assert {k: tasks["A"][k] for k in ("kind", "join_type", "split_type", "work_item")} == {
        "kind": "task",
        "join_type": "and",
        "split_type": "xor",
        "work_item": "a_item",
    }
    assert (tasks["B"]["join_type"], tasks["B"]["split_type"], tasks["B"]["work_item"]) == (
        "xor",
        "and",
        "b_item",
    )
    assert tasks["D"]["kind"] == "dummy"
    assert "work_item" not in tasks["D"] or tasks["D"]["work_item"] is None

    conditions = {c["name"]: c for c in structure["conditions"]}
    assert set(conditions) == {"start", "c", "end", "A__to__B"}
    assert {
        name: (c["is_start"], c["is_end"], c["is_implicit"]) for name, c in conditions.items()
    } == {
        "start": (True, False, False),
        "c": (False, False, False),
        "end": (False, True, False),
        "A__to__B": (False, False, True),
    }

    flows = {(f["source"], f["target"]) for f in structure["flows"]}
    assert flows == {
        ("start", "A"),
        ("A", "A__to__B"),
        ("A__to__B", "B"),
        ("A", "c"),
        ("c", "B"),
        ("c", "D"),
        ("B", "end"),
        ("D", "end"),
    }
    assert len(structure["flows"]) == len(flows)
    assert structure["cancellation_regions"] == {"B": {"tasks": ["D"], "conditions": ["c"]}}


def test_structure_nests_composite_and_dynamic_composite_children(app):
    def leaf(name: str, task: str) -> Any:
        return (
            Builder.workflow(name)
            .start_condition("start")
            .end_condition("end")
            .task(task, item_task(f"{task}_item"))
            .connect_condition("start", lambda to: to.task(task))
            .connect_task(task, lambda to: to.condition("end"))
        )

    middle = (
        Builder.workflow("middle")
        .start_condition("start")
        .end_condition("end")
        .composite_task("inner", Builder.composite_task(leaf("deep", "d")))
        .connect_condition("start", lambda to: to.task("inner"))
        .connect_task("inner", lambda to: to.condition("end"))
    )
    wf = (
        Builder.workflow("outer")
        .start_condition("start")
        .condition("mid")
        .end_condition("end")
        .composite_task("C", Builder.composite_task(middle))
        .dynamic_composite_task(
            "Dyn", Builder.dynamic_composite_task([leaf("one", "x"), leaf("two", "y")])
        )
        .connect_condition("start", lambda to: to.task("C"))
        .connect_task("C", lambda to: to.condition("mid"))
        .connect_condition("mid", lambda to: to.task("Dyn"))
        .connect_task("Dyn", lambda to: to.condition("end"))
    )
    api = app.register(tq.versions("outer").version("v1", wf)).api("v1")
    structure = api.get_workflow_structure()
    tasks = {t["name"]: t for t in structure["tasks"]}

    assert tasks["C"]["kind"] == "composite"
    (middle_s,) = tasks["C"]["children"]
    assert middle_s["name"] == "middle"
    (inner,) = middle_s["tasks"]
    assert (inner["name"], inner["kind"]) == ("inner", "composite")
    (deep,) = inner["children"]
    assert deep["name"] == "deep"
    assert [(t["name"], t["kind"], t["work_item"]) for t in deep["tasks"]] == [
        ("d", "task", "d_item")
    ]
    assert {(f["source"], f["target"]) for f in deep["flows"]} == {("start", "d"), ("d", "end")}

    assert tasks["Dyn"]["kind"] == "dynamic_composite"
    children = tasks["Dyn"]["children"]
    assert [c["name"] for c in children] == ["one", "two"]
    assert [[t["name"] for t in c["tasks"]] for c in children] == [["x"], ["y"]]
    assert all({c["name"] for c in child["conditions"]} == {"start", "end"} for child in children)


# --- builders --------------------------------------------------------------------------------


def test_builders_are_immutable(app):
    plain = Builder.workflow("wf")
    with_start = plain.start_condition("start")
    assert with_start is not plain
    assert plain == Builder.workflow("wf")

    task = item_task()
    xor = task.with_split_type("xor")
    assert xor is not task
    assert task == item_task()

    item = Builder.work_item("item")
    item.with_activities(on_initialized=lambda ctx: None)
    assert item == Builder.work_item("item")

    # v1 is the base workflow; v2 extends the same builder. v1 does not see v2's additions.
    v1 = base()
    v2 = (
        v1.condition("mid")
        .task("B", item_task())
        .connect_task("A", lambda to: to.condition("mid"))
        .connect_condition("mid", lambda to: to.task("B"))
        .connect_task("B", lambda to: to.condition("end"))
    )
    versions = app.register(tq.versions("wf").version("v1", v1).version("v2", v2))
    assert [t["name"] for t in versions.api("v1").get_workflow_structure()["tasks"]] == ["A"]
    assert [t["name"] for t in versions.api("v2").get_workflow_structure()["tasks"]] == ["A", "B"]


def test_builders_are_reusable_across_workflows(app):
    events: list[str] = []

    def on_enabled(ctx: Any) -> None:
        events.append(ctx.parent.workflow.name)
        ctx.work_item.initialize()

    shared = Builder.task(Builder.work_item("shared")).with_activities(on_enabled=on_enabled)

    def with_shared(name: str, task: Any) -> Any:
        return (
            Builder.workflow(name)
            .start_condition("start")
            .end_condition("end")
            .task("S", task)
            .connect_condition("start", lambda to: to.task("S"))
            .connect_task("S", lambda to: to.condition("end"))
        )

    first = app.register(with_shared("first", shared)).api()
    second = app.register(with_shared("second", shared.with_join_type("xor"))).api()
    w1 = first.internal_initialize_root_workflow()
    w2 = second.internal_initialize_root_workflow()
    assert events == ["first", "second"]
    assert [i.name for i in first.list_work_items(w1)] == ["shared"]
    assert [i.name for i in second.list_work_items(w2)] == ["shared"]
    assert first.get_workflow_structure()["tasks"][0]["join_type"] == "and"
    assert second.get_workflow_structure()["tasks"][0]["join_type"] == "xor"


@pytest.mark.parametrize(
    "call",
    [
        lambda: Builder.task(Builder.work_item("i")).with_activities(on_enable=lambda c: None),
        lambda: Builder.work_item("i").with_activities(on_enabled=lambda c: None),
        lambda: Builder.dummy_task().with_activities(on_work_item_state_changed=lambda c: None),
        lambda: Builder.workflow("w").with_activities(on_enabled=lambda c: None),
        lambda: Builder.composite_task(base()).with_activities(
            on_work_item_state_changed=lambda c: None
        ),
    ],
    ids=["task", "work_item", "dummy", "workflow", "composite"],
)
def test_unknown_activity_keyword_is_a_type_error(call):
    with pytest.raises(TypeError):
        call()
