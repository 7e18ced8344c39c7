"""Versions and deprecation; the read contract of the API (docs/semantics.md, section 13);
calls with `ctx=ctx`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import typing
from typing import Any

import pytest
import sqlalchemy as sa

import tasquencer as tq
from tasquencer import Builder
from tasquencer.store.tables import work_items
from tests.helpers import dump

# --- helpers ---------------------------------------------------------------------------------


class Boom(Exception):
    """Raised on purpose."""


def self_starting_task(item: str = "item", **activities: Any) -> Any:
    def on_initialized(ctx: Any) -> None:
        ctx.work_item.start()

    work_item = Builder.work_item(item).with_activities(on_initialized=on_initialized)

    def on_enabled(ctx: Any) -> None:
        ctx.work_item.initialize()

    return Builder.task(work_item).with_activities(on_enabled=on_enabled, **activities)


def plain_task(item: str = "item") -> Any:
    return Builder.task(Builder.work_item(item))


def sequence(name: str, *tasks: tuple[str, Any]) -> Any:
    """start -> tasks... -> end (task -> task arcs through implicit conditions)."""
    wf = Builder.workflow(name).start_condition("start").end_condition("end")
    for task_name, builder in tasks:
        if isinstance(builder, tq.builder.CompositeTaskBuilder):
            wf = wf.composite_task(task_name, builder)
        else:
            wf = wf.task(task_name, builder)
    names = [n for n, _ in tasks]
    wf = wf.connect_condition("start", lambda to: to.task(names[0]))
    for a, b in itertools.pairwise(names):
        wf = wf.connect_task(a, lambda to, b=b: to.task(b))
    return wf.connect_task(names[-1], lambda to: to.condition("end"))


def only_item(api: tq.WorkflowApi, workflow_id: str, task: str) -> Any:
    (item,) = api.list_work_items(workflow_id, task_name=task, state="started")
    return item


def create_child(ctx: Any) -> None:
    ctx.workflow.initialize()


def child_workflow() -> Any:
    return sequence("child", ("t", self_starting_task()))


# --- versions --------------------------------------------------------------------------------


def test_each_version_has_its_own_api_and_instances(app):
    v1 = sequence("doc", ("A", self_starting_task()))
    v2 = sequence("doc", ("A", self_starting_task()), ("B", self_starting_task()))
    versions = app.register(tq.versions("doc").version("v1", v1).version("v2", v2))
    api1, api2 = versions.api("v1"), versions.api("v2")

    w1 = api1.internal_initialize_root_workflow()
    w2 = api2.internal_initialize_root_workflow()
    assert api1.get_workflow_snapshot(w1).version_name == "v1"
    assert api2.get_workflow_snapshot(w2).version_name == "v2"
    assert [t["name"] for t in api1.get_workflow_structure()["tasks"]] == ["A"]
    assert [t["name"] for t in api2.get_workflow_structure()["tasks"]] == ["A", "B"]
    assert [w.id for w in api1.list_workflows()] == [w1]
    assert [w.id for w in api2.list_workflows()] == [w2]

    # Each instance runs its own version's net.
    api1.internal_complete_work_item(only_item(api1, w1, "A").id)
    api2.internal_complete_work_item(only_item(api2, w2, "A").id)
    assert api1.get_workflow_state(w1) == "completed"
    assert api2.get_workflow_task_states(w2) == {"A": "completed", "B": "started"}


def test_registered_versions_list_themselves_in_order(app):
    doc = sequence("doc", ("A", plain_task()))
    versions = app.register(
        tq.versions("doc").version("v1", doc).version("v2", doc).version("v3", doc).deprecate("v1")
    )
    assert versions.version_names == ["v1", "v2", "v3"]
    assert versions.active_versions == ["v2", "v3"]
    assert versions.deprecated_versions == ["v1"]
    assert versions.api().version.version_name == "v3"  # no version given: the latest


def test_unknown_version_is_rejected(app):
    versions = app.register(tq.versions("doc").version("v1", sequence("doc", ("A", plain_task()))))
    with pytest.raises(tq.UnknownVersionError, match="v9"):
        versions.api("v9")
    with pytest.raises(tq.UnknownVersionError, match="v9"):
        app.register(
            tq.versions("other")
            .version("v1", sequence("other", ("A", plain_task())))
            .deprecate("v9")
        )
    assert not app.is_registered("other")


def _deprecation_workflow() -> Any:
    # C gets its child through the API; D creates its child in on_enabled.
    return sequence(
        "dep",
        ("C", Builder.composite_task(child_workflow())),
        ("D", Builder.composite_task(child_workflow()).with_activities(on_enabled=create_child)),
    )


def test_deprecated_version_refuses_new_roots_but_runs_its_instances(app):
    wf = _deprecation_workflow()
    old_api = app.register(tq.versions("dep").version("v1", wf)).api("v1")
    wid = old_api.internal_initialize_root_workflow()
    assert old_api.get_workflow_task_states(wid) == {"C": "enabled", "D": "disabled"}

    # Later, the app is restarted with v1 deprecated in favour of v2.
    later = tq.App(app.url)
    try:
        versions = later.register(
            tq.versions("dep").version("v1", wf).version("v2", wf).deprecate("v1")
        )
        assert versions.deprecated_versions == ["v1"]
        api = versions.api("v1")
        before = dump(later)
        with pytest.raises(tq.WorkflowDeprecatedError, match="v1"):
            api.internal_initialize_root_workflow()
        with pytest.raises(tq.WorkflowDeprecatedError):
            api.initialize_root_workflow()
        assert dump(later) == before
        assert versions.api("v2").internal_initialize_root_workflow()

        # §17.13: the running v1 instance keeps working, child workflows included.
        # (Reference: deprecation also refused child workflows of running instances.)
        target = {"path": ["dep", "C", "child"], "parent_workflow_id": wid, "parent_task_name": "C"}
        c_child = api.internal_initialize_workflow(target)
        api.internal_complete_work_item(only_item(api, c_child, "t").id)
        (d_child,) = api.list_child_workflows(wid, "D")
        assert d_child.state == "started"
        api.internal_complete_work_item(only_item(api, d_child.id, "t").id)
        assert api.get_workflow_state(wid) == "completed"
        assert [w.id for w in api.list_workflows()] == [wid]
    finally:
        later.close()


# --- records ---------------------------------------------------------------------------------


def _loop_workflow(rounds: int) -> Any:
    """start -> A (xor join) -> B (xor split) -> again -> A ... -> end, `rounds` times."""
    seen = {"B": 0}

    def route(ctx: Any) -> Any:
        seen["B"] += 1
        return ctx.route.to_condition("again" if seen["B"] < rounds else "end")

    return (
        Builder.workflow("loop")
        .start_condition("start")
        .condition("again")
        .end_condition("end")
        .task("A", self_starting_task("a_item").with_join_type("xor"))
        .task("B", self_starting_task("b_item").with_split_type("xor"))
        .connect_condition("start", lambda to: to.task("A"))
        .connect_condition("again", lambda to: to.task("A"))
        .connect_task("A", lambda to: to.task("B"))
        .connect_task("B", lambda to: to.condition("again").condition("end").route(route))
    )


def test_list_work_items_covers_every_generation_oldest_first(app):
    api = app.register(tq.versions("loop").version("v1", _loop_workflow(2))).api("v1")
    wid = api.internal_initialize_root_workflow()
    created = []
    for task in ("A", "B", "A", "B"):
        item = only_item(api, wid, task)
        created.append(item.id)
        api.internal_complete_work_item(item.id)
    assert api.get_workflow_state(wid) == "completed"

    items = api.list_work_items(wid)
    assert [i.id for i in items] == created
    assert [(i.name, i.task_name, i.generation, i.state) for i in items] == [
        ("a_item", "A", 1, "completed"),
        ("b_item", "B", 1, "completed"),
        ("a_item", "A", 2, "completed"),
        ("b_item", "B", 2, "completed"),
    ]
    assert [i.generation for i in api.list_work_items(wid, task_name="A")] == [1, 2]
    assert [i.id for i in api.list_work_items(wid, task_name="B", state="completed")] == [
        created[1],
        created[3],
    ]
    assert api.list_work_items(wid, state="started") == []
    assert api.list_work_items(wid, task_name="nope") == []

    record = items[0]
    assert dataclasses.is_dataclass(record)
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.state = "started"  # type: ignore[misc]
    as_dict = dataclasses.asdict(record)
    assert {"id", "name", "state", "task_name", "generation"} <= set(as_dict)
    assert (as_dict["id"], as_dict["generation"]) == (record.id, 1)


def test_list_child_workflows_covers_every_generation(app):
    rounds = {"n": 0}

    def route(ctx: Any) -> Any:
        rounds["n"] += 1
        return ctx.route.to_condition("again" if rounds["n"] < 2 else "end")

    wf = (
        Builder.workflow("kids")
        .start_condition("start")
        .condition("again")
        .end_condition("end")
        .composite_task(
            "C",
            Builder.composite_task(child_workflow())
            .with_join_type("xor")
            .with_activities(on_enabled=create_child),
        )
        .dummy_task("B", Builder.dummy_task().with_split_type("xor"))
        .connect_condition("start", lambda to: to.task("C"))
        .connect_condition("again", lambda to: to.task("C"))
        .connect_task("C", lambda to: to.task("B"))
        .connect_task("B", lambda to: to.condition("again").condition("end").route(route))
    )
    api = app.register(tq.versions("kids").version("v1", wf)).api("v1")
    wid = api.internal_initialize_root_workflow()
    (first,) = api.list_child_workflows(wid, "C")
    api.internal_complete_work_item(only_item(api, first.id, "t").id)
    assert api.get_workflow_snapshot(wid).tasks["C"].generation == 2
    first_again, second = api.list_child_workflows(wid, "C")
    assert first_again.id == first.id
    api.internal_complete_work_item(only_item(api, second.id, "t").id)
    assert api.get_workflow_state(wid) == "completed"

    children = api.list_child_workflows(wid, "C")
    assert [(c.id, c.name, c.state, c.generation) for c in children] == [
        (first.id, "child", "completed", 1),
        (second.id, "child", "completed", 2),
    ]
    assert first.id < second.id
    assert {"id", "name", "state", "generation"} <= set(dataclasses.asdict(children[0]))
    with pytest.raises(dataclasses.FrozenInstanceError):
        children[0].state = "x"  # type: ignore[misc]
    assert api.get_workflow_snapshot(wid).child_workflows == children


def test_snapshot_and_task_states(app):
    wf = sequence(
        "snap",
        ("A", self_starting_task()),
        ("B", self_starting_task()),
        ("C", Builder.composite_task(child_workflow()).with_activities(on_enabled=create_child)),
    )
    api = app.register(tq.versions("snap").version("v1", wf)).api("v1")
    wid = api.internal_initialize_root_workflow()
    api.internal_complete_work_item(only_item(api, wid, "A").id)

    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.state == "started"
    assert snapshot.execution_mode == "normal"
    assert {n: (t.state, t.generation) for n, t in snapshot.tasks.items()} == {
        "A": ("completed", 1),
        "B": ("started", 1),
        "C": ("disabled", 0),
    }
    assert snapshot.conditions == {"start": 0, "end": 0, "A__to__B": 0, "B__to__C": 0}
    assert all(type(m) is int for m in snapshot.conditions.values())
    assert snapshot.work_items == api.list_work_items(wid)
    assert [w.task_name for w in snapshot.work_items] == ["A", "B"]
    assert snapshot.child_workflows == []
    assert dataclasses.asdict(snapshot)["tasks"]["B"] == {"state": "started", "generation": 1}

    # Task-state reads leave implicit conditions out.
    assert api.get_workflow_task_states(wid) == {
        "A": "completed",
        "B": "started",
        "C": "disabled",
    }

    api.internal_complete_work_item(only_item(api, wid, "B").id)
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.conditions["B__to__C"] == 0
    assert snapshot.tasks["C"].state == "started"
    assert snapshot.child_workflows == api.list_child_workflows(wid, "C")
    (child,) = snapshot.child_workflows
    assert (child.name, child.state, child.generation) == ("child", "started", 1)
    child_snapshot = api.get_workflow_snapshot(child.id)
    assert child_snapshot.conditions == {"start": 0, "end": 0}
    assert child_snapshot.version_name == "v1"


def test_reads_of_unknown_ids_raise_not_found(app):
    api = app.register(
        tq.versions("wf").version("v1", sequence("wf", ("A", self_starting_task())))
    ).api("v1")
    api.internal_initialize_root_workflow()
    before = dump(app)
    with pytest.raises(tq.WorkflowNotFoundError, match="nope"):
        api.get_workflow_state("nope")
    with pytest.raises(tq.WorkItemNotFoundError, match="nope"):
        api.get_work_item_state("nope")
    with pytest.raises(tq.WorkflowNotFoundError):
        api.get_workflow_snapshot("nope")
    with pytest.raises(tq.WorkflowNotFoundError):
        api.get_workflow_task_states("nope")
    with pytest.raises(tq.WorkflowNotFoundError):
        api.list_work_items("nope")
    with pytest.raises(tq.WorkflowNotFoundError):
        api.list_child_workflows("nope", "A")
    with pytest.raises(tq.WorkItemNotFoundError):
        api.internal_start_work_item("nope")
    with pytest.raises(tq.WorkItemNotFoundError):
        api.internal_complete_work_item("nope")
    with pytest.raises(tq.WorkflowNotFoundError):
        api.internal_cancel_workflow("nope")
    assert dump(app) == before


def test_reads_of_another_workflow_s_instances_raise_not_found_as_commands_do(app):
    api = app.register(sequence("wf", ("A", self_starting_task()))).api()
    other = app.register(sequence("other", ("B", self_starting_task()))).api()
    other_id = other.internal_initialize_root_workflow()
    (item,) = other.list_work_items(other_id)
    before = dump(app)
    for read in (
        api.get_workflow_state,
        api.get_workflow_snapshot,
        api.get_workflow_task_states,
        api.list_work_items,
        api.list_child_workflows,
    ):
        with pytest.raises(tq.WorkflowNotFoundError, match="'wf' workflow"):
            read(other_id)
    with pytest.raises(tq.WorkflowNotFoundError, match="'wf' workflow"):
        api.internal_cancel_workflow(other_id)
    with pytest.raises(tq.WorkItemNotFoundError, match="'wf' workflow"):
        api.get_work_item_state(item.id)
    with pytest.raises(tq.WorkItemNotFoundError, match="'wf' workflow"):
        api.internal_complete_work_item(item.id)
    assert dump(app) == before
    assert other.get_workflow_state(other_id) == "started"


def test_list_workflows_lists_root_workflows_of_that_version_only(app):
    parent = sequence(
        "parent",
        ("A", self_starting_task()),
        ("C", Builder.composite_task(child_workflow()).with_activities(on_enabled=create_child)),
    )
    versions = app.register(tq.versions("parent").version("v1", parent).version("v2", parent))
    api, api2 = versions.api("v1"), versions.api("v2")
    other = app.register(
        tq.versions("other").version("v1", sequence("other", ("A", self_starting_task())))
    ).api("v1")

    w1 = api.internal_initialize_root_workflow()
    w2 = api.internal_initialize_root_workflow()
    api.internal_complete_work_item(only_item(api, w1, "A").id)  # w1 gets a child workflow
    api.internal_cancel_root_workflow(w2)
    w3 = api2.internal_initialize_root_workflow()
    other.internal_initialize_root_workflow()

    listed = api.list_workflows()
    assert [w.id for w in listed] == [w1, w2]
    assert [(w.name, w.version_name, w.state) for w in listed] == [
        ("parent", "v1", "started"),
        ("parent", "v1", "canceled"),
    ]
    assert [w.id for w in api.list_workflows(state="canceled")] == [w2]
    assert [w.id for w in api.list_workflows(state="started")] == [w1]
    assert api.list_workflows(state="completed") == []
    assert [w.id for w in api2.list_workflows()] == [w3]
    assert "id" in dataclasses.asdict(listed[0])


def test_listed_workflows_carry_their_creation_time_in_utc(app):
    api = app.register(
        tq.versions("timed").version("v1", sequence("timed", ("A", self_starting_task())))
    ).api("v1")
    api.internal_initialize_root_workflow()

    (listed,) = api.list_workflows()

    assert listed.created_at == app.clock.now()
    assert listed.created_at.utcoffset() == dt.timedelta(0)


def test_ids_are_strings_increasing_in_creation_order(app):
    api = app.register(tq.versions("loop").version("v1", _loop_workflow(3))).api("v1")
    roots = [api.internal_initialize_root_workflow() for _ in range(5)]
    assert all(isinstance(i, str) for i in roots)
    assert roots == sorted(roots)
    assert len(set(roots)) == 5

    wid = roots[0]
    created = []
    for _ in range(6):
        (item,) = api.list_work_items(wid, state="started")
        created.append(item.id)
        api.internal_complete_work_item(item.id)
    assert all(isinstance(i, str) for i in created)
    assert created == sorted(created)
    # The first work item was created while its root was initialized; the next ones later.
    assert roots[0] < created[0] < roots[1]
    assert created[1] > roots[-1]
    assert [i.id for i in api.list_work_items(wid)] == created


# --- calls with ctx=ctx ----------------------------------------------------------------------


def outside_count(app: tq.App, workflow_id: str) -> int:
    """Work items of the workflow, as another connection (its own transaction) sees them."""
    with app.engine.connect() as other:
        other.info["tasquencer_read_only"] = True  # SQLite: a plain BEGIN, not a writer's lock
        count = other.execute(
            sa.select(sa.func.count())
            .select_from(work_items)
            .where(work_items.c.workflow_id == workflow_id)
        ).scalar_one()
        other.rollback()
    return count


def test_api_calls_with_ctx_run_in_the_callers_transaction(app):
    ref: dict[str, Any] = {"fail": False}

    def b_enabled(ctx: Any) -> None:
        api = ref["api"]
        wid = ctx.parent.workflow.id
        target = {
            "path": ["ctx", "A", "a_item"],
            "parent_workflow_id": wid,
            "parent_task_name": "A",
        }
        item_id = api.internal_initialize_work_item(target, ctx=ctx)
        # A read with ctx sees the uncommitted work item ...
        ref["inside"] = [(i.id, i.state) for i in api.list_work_items(wid, task_name="A", ctx=ctx)]
        ref["state"] = api.get_work_item_state(item_id, ctx=ctx)
        ref["task_states"] = api.get_workflow_task_states(wid, ctx=ctx)
        # ... which another connection cannot see yet.
        ref["outside"] = outside_count(app, wid)
        ref["item_id"] = item_id
        if ref["fail"]:
            raise Boom("after the ctx call")

    wf = (
        Builder.workflow("ctx")
        .start_condition("start")
        .condition("a_done")
        .condition("b_done")
        .end_condition("end")
        .dummy_task("split", Builder.dummy_task())
        .task("A", plain_task("a_item"))
        .task("B", Builder.task(Builder.work_item("b_item")).with_activities(on_enabled=b_enabled))
        .dummy_task("join", Builder.dummy_task())
        .connect_condition("start", lambda to: to.task("split"))
        .connect_task("split", lambda to: to.task("A").task("B"))
        .connect_task("A", lambda to: to.condition("a_done"))
        .connect_task("B", lambda to: to.condition("b_done"))
        .connect_condition("a_done", lambda to: to.task("join"))
        .connect_condition("b_done", lambda to: to.task("join"))
        .connect_task("join", lambda to: to.condition("end"))
    )
    ref["api"] = api = app.register(tq.versions("ctx").version("v1", wf)).api("v1")

    # The activity raises after its ctx call: the work item goes with everything else.
    ref["fail"] = True
    before = dump(app)
    with pytest.raises(Boom):
        api.internal_initialize_root_workflow()
    assert dump(app) == before
    assert api.list_workflows() == []

    ref["fail"] = False
    wid = api.internal_initialize_root_workflow()
    assert ref["inside"] == [(ref["item_id"], "initialized")]
    assert ref["state"] == "initialized"
    assert ref["task_states"]["A"] == "enabled"
    assert ref["outside"] == 0
    assert [(i.id, i.task_name) for i in api.list_work_items(wid)] == [(ref["item_id"], "A")]


def test_a_registered_mutation_commits_its_api_calls_together(app):
    wf = sequence("mut", ("A", self_starting_task()), ("B", self_starting_task()))
    api = app.register(tq.versions("mut").version("v1", wf)).api("v1")

    @app.mutation
    def start_and_finish_a(ctx: Any, fail: bool) -> str:
        wid = api.internal_initialize_root_workflow(ctx=ctx)
        assert api.get_workflow_state(wid, ctx=ctx) == "started"
        (item,) = api.list_work_items(wid, ctx=ctx)
        api.internal_complete_work_item(item.id, ctx=ctx)
        assert api.get_workflow_task_states(wid, ctx=ctx) == {"A": "completed", "B": "started"}
        if fail:
            raise Boom("after two API calls")
        return wid

    before = dump(app)
    with pytest.raises(Boom):
        app.run_mutation(start_and_finish_a, fail=True)
    assert dump(app) == before
    assert api.list_workflows() == []

    wid = app.run_mutation(start_and_finish_a, fail=False)
    assert api.get_workflow_task_states(wid) == {"A": "completed", "B": "started"}
    assert [(i.task_name, i.state) for i in api.list_work_items(wid)] == [
        ("A", "completed"),
        ("B", "started"),
    ]


def test_api_methods_declare_what_they_return_to_type_checkers():
    expected = {
        "initialize_root_workflow": str,
        "internal_initialize_work_item": str,
        "complete_work_item": list[tq.WorkItem],
        "get_workflow_state": tq.records.WorkflowState,
        "get_workflow_snapshot": tq.WorkflowSnapshot,
        "list_work_items": list[tq.WorkItem],
        "list_child_workflows": list[tq.ChildWorkflow],
    }
    for method, returns in expected.items():
        hints = typing.get_type_hints(getattr(tq.WorkflowApi, method))
        assert hints["return"] == returns, method
    methods = [
        name
        for name, member in vars(tq.WorkflowApi).items()
        if not name.startswith("_") and callable(member)
    ]
    assert len(methods) == 33
