"""Migration of running instances to a new version: the old instance is canceled as migrated, a
new one replays its progress in fast-forward mode (done work stays done, new work is enabled)."""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from typing import Any

import pytest

import tasquencer as tq
from tasquencer import Builder
from tests.helpers import dump

FF = tq.MigrationMode.FAST_FORWARD
CONTINUE = tq.MigrationMode.CONTINUE


def create_item(ctx: tq.TaskActivityContext) -> None:
    ctx.work_item.initialize()


def task_with_item(name: str = "item", *, creates: bool = True) -> tq.builder.TaskBuilder:
    task = Builder.task(Builder.work_item(name))
    return task.with_activities(on_enabled=create_item) if creates else task


def chain(name: str, *tasks: tuple[str, Any]) -> tq.builder.WorkflowBuilder:
    wf = Builder.workflow(name).start_condition("start").end_condition("end")
    for task_name, task in tasks:
        wf = (
            wf.composite_task(task_name, task)
            if isinstance(task, tq.builder.CompositeTaskBuilder)
            else wf.dynamic_composite_task(task_name, task)
            if isinstance(task, tq.builder.DynamicCompositeTaskBuilder)
            else wf.task(task_name, task)
        )
    names = [n for n, _ in tasks]
    wf = wf.connect_condition("start", lambda to: to.task(names[0]))
    for first, second in itertools.pairwise(names):
        wf = wf.connect_task(first, lambda to, second=second: to.task(second))
    return wf.connect_task(names[-1], lambda to: to.condition("end"))


def finish(api: tq.WorkflowApi, workflow_id: str, task: str) -> None:
    """Start (if needed) and complete the open work item of a task."""
    (item,) = [i for i in api.list_work_items(workflow_id, task_name=task) if i.state != "canceled"]
    if item.state == "initialized":
        api.internal_start_work_item(item.id)
    api.internal_complete_work_item(item.id)


class Calls:
    def __init__(self) -> None:
        self.log: list[tuple[Any, ...]] = []

    def migrator(self, key: str, mode: tq.MigrationMode) -> tq.TaskMigrator:
        def decide(ctx: tq.TaskMigratorContext) -> tq.MigrationMode:
            self.log.append(("migrator", key, ctx.task.generation, ctx.execution_mode))
            return mode

        return decide

    def of(self, kind: str) -> list[tuple[Any, ...]]:
        return [entry for entry in self.log if entry[0] == kind]


def simple_versions(calls: Calls) -> tq.VersionsBuilder:
    """v1: A -> B; v2: A -> B -> C, where B creates no work items by itself."""
    v1 = chain("simple", ("A", task_with_item()), ("B", task_with_item()))
    v2 = chain(
        "simple",
        ("A", task_with_item()),
        ("B", task_with_item(creates=False)),
        ("C", task_with_item(creates=False)),
    )

    def initializer(ctx: tq.MigrationInitializerContext) -> None:
        calls.log.append(
            (
                "initializer",
                ctx.workflow.id,
                ctx.migrating_from_workflow.id,
                ctx.migrating_from_workflow.name,
                ctx.is_internal,
                ctx.execution_mode,
            )
        )

    def finalizer(ctx: tq.MigrationFinalizerContext) -> None:
        calls.log.append(
            ("finalizer", ctx.workflow.id, ctx.result.state, ctx.migrating_from_workflow.id)
        )

    migration = (
        tq.migrate(v1, v2)
        .with_initializer(initializer)
        .with_finalizer(finalizer)
        .with_task_migrators(
            {
                "simple/A": calls.migrator("simple/A", FF),
                "simple/B": calls.migrator("simple/B", CONTINUE),
                "simple/C": calls.migrator("simple/C", CONTINUE),
            }
        )
    )
    return (
        tq.versions("simple")
        .version("v1", v1)
        .version("v2", v2)
        .with_migration("v1->v2", migration)
    )


def test_done_work_is_fast_forwarded_and_new_work_is_left_to_do(app):
    calls = Calls()
    versions = app.register(simple_versions(calls))
    v1, v2 = versions.api("v1"), versions.api("v2")
    old = v1.internal_initialize_root_workflow()
    finish(v1, old, "A")

    new = app.migrate(old, to_version="v2")

    assert v1.get_workflow_state(old) == "canceled"
    assert v2.get_workflow_state(new) == "started"
    snapshot = v2.get_workflow_snapshot(new)
    assert snapshot.execution_mode == "fastForward"
    assert {n: (t.state, t.generation) for n, t in snapshot.tasks.items()} == {
        "A": ("completed", 1),
        "B": ("enabled", 1),
        "C": ("disabled", 0),
    }
    assert snapshot.work_items == []  # A was fast-forwarded, B creates none by itself
    assert (snapshot.migrated_from, snapshot.migrated_to) == (old, None)
    assert v1.get_workflow_snapshot(old).migrated_to == new
    assert calls.of("initializer") == [("initializer", new, old, "simple", True, "fastForward")]
    assert [c[1] for c in calls.of("migrator")] == ["simple/A", "simple/B"]

    # Later calls in normal mode: C's migrator is consulted when C is enabled, days later.
    v2.internal_initialize_work_item(
        {"path": ["simple", "B", "item"], "parent_workflow_id": new, "parent_task_name": "B"}
    )
    finish(v2, new, "B")
    assert calls.of("migrator")[-1] == ("migrator", "simple/C", 1, "normal")
    v2.internal_initialize_work_item(
        {"path": ["simple", "C", "item"], "parent_workflow_id": new, "parent_task_name": "C"}
    )
    finish(v2, new, "C")
    assert v2.get_workflow_state(new) == "completed"
    assert calls.of("finalizer") == [("finalizer", new, "completed", old)]


def test_fast_forward_skips_the_task_s_activities_and_the_workflow_s_initialization(app):
    seen: list[str] = []

    def record(what: str) -> Any:
        def activity(ctx: Any) -> None:
            seen.append(f"{what}:{ctx.execution_mode}")

        return activity

    def item_task(name: str) -> tq.builder.TaskBuilder:
        return task_with_item().with_activities(
            on_enabled=lambda ctx: (
                seen.append(f"{name}.enabled:{ctx.execution_mode}"),
                ctx.work_item.initialize(),
            ),
            on_started=record(f"{name}.started"),
            on_completed=record(f"{name}.completed"),
        )

    def initialize(ctx: tq.WorkflowInitializeContext, payload: None) -> None:
        seen.append("wf.initialize action")
        ctx.workflow.initialize()

    def workflow(*names: str) -> tq.builder.WorkflowBuilder:
        return (
            chain("wf", *((n, item_task(n)) for n in names))
            .with_actions(Builder.workflow_actions().initialize(None, initialize))
            .with_activities(
                on_initialized=record("wf.initialized"),
                on_started=record("wf.started"),
                on_canceled=record("wf.canceled"),
            )
        )

    v1, v2 = workflow("A", "B"), workflow("A", "B")
    migration = tq.migrate(v1, v2).with_task_migrators({"wf/A": lambda ctx: FF})
    versions = app.register(
        tq.versions("wf").version("v1", v1).version("v2", v2).with_migration("v1->v2", migration)
    )
    old = versions.api("v1").internal_initialize_root_workflow()
    finish(versions.api("v1"), old, "A")
    seen.clear()

    app.migrate(old, to_version="v2")

    # The old instance's teardown runs (and can tell a migration by the mode); the new one
    # fires nothing for A, nor its own initialization and start; B is enabled as usual.
    assert seen == ["wf.canceled:fastForward", "B.enabled:fastForward"]


def test_teardown_activities_still_fire_during_the_replay(app):
    """Fast-forwarding X consumes the token X and Y compete for (a deferred choice): Y loses,
    and its on_disabled fires, as in any other call."""
    disabled: list[str] = []

    def withdrawn(ctx: tq.TaskTeardownContext) -> None:
        disabled.append(f"{ctx.parent.workflow.id}:{ctx.execution_mode}")

    def choice() -> tq.builder.WorkflowBuilder:
        lost = task_with_item().with_activities(on_disabled=withdrawn)
        return (
            Builder.workflow("wf")
            .start_condition("start")
            .end_condition("end")
            .task("Y", lost)  # enabled first, then withdrawn when X takes the token
            .task("X", task_with_item())
            .connect_condition("start", lambda to: to.task("Y").task("X"))
            .connect_task("X", lambda to: to.condition("end"))
            .connect_task("Y", lambda to: to.condition("end"))
        )

    v1, v2 = choice(), choice()
    migration = tq.migrate(v1, v2).with_task_migrators({"wf/X": lambda ctx: FF})
    versions = app.register(
        tq.versions("wf").version("v1", v1).version("v2", v2).with_migration("v1->v2", migration)
    )
    old = versions.api("v1").internal_initialize_root_workflow()
    disabled.clear()  # the old instance's Y is disabled by its cancellation too
    new = app.migrate(old, to_version="v2")
    assert versions.api("v2").get_workflow_task_states(new) == {"X": "completed", "Y": "disabled"}
    assert disabled == [f"{old}:fastForward", f"{new}:fastForward"], (old, new)
    assert versions.api("v2").get_workflow_state(new) == "completed"


def test_a_migrator_that_creates_work_and_continues_runs_its_auto_triggers(app):
    def auto(ctx: tq.WorkItemActivityContext) -> None:
        ctx.work_item.start()

    def auto_complete(ctx: tq.WorkItemActivityContext) -> None:
        ctx.work_item.complete()

    item = Builder.work_item("item").with_activities(on_initialized=auto, on_started=auto_complete)
    v1 = chain("wf", ("A", task_with_item()), ("B", task_with_item()))
    v2 = chain("wf", ("A", task_with_item()), ("B", Builder.task(item)), ("C", task_with_item()))
    created: list[str] = []

    def b(ctx: tq.WorkItemTaskMigratorContext) -> tq.MigrationMode:
        created.append(ctx.work_item.initialize())
        return CONTINUE

    migration = tq.migrate(v1, v2).with_task_migrators({"wf/A": lambda ctx: FF, "wf/B": b})
    versions = app.register(
        tq.versions("wf").version("v1", v1).version("v2", v2).with_migration("v1->v2", migration)
    )
    old = versions.api("v1").internal_initialize_root_workflow()
    finish(versions.api("v1"), old, "A")
    new = app.migrate(old, to_version="v2")

    api = versions.api("v2")
    assert [(i.id, i.state) for i in api.list_work_items(new, task_name="B")] == [
        (created[0], "completed")
    ]
    assert api.get_workflow_task_states(new) == {"A": "completed", "B": "completed", "C": "enabled"}


def test_a_migrator_may_not_create_work_and_fast_forward(app):
    v1 = chain("wf", ("A", task_with_item()))
    v2 = chain("wf", ("A", Builder.task(Builder.work_item("item"))))

    def greedy(ctx: tq.WorkItemTaskMigratorContext) -> tq.MigrationMode:
        ctx.work_item.initialize()
        return FF

    migration = tq.migrate(v1, v2).with_task_migrators({"wf/A": greedy})
    versions = app.register(
        tq.versions("wf").version("v1", v1).version("v2", v2).with_migration("v1->v2", migration)
    )
    old = versions.api("v1").internal_initialize_root_workflow()
    before = dump(app)
    with pytest.raises(tq.ConstraintViolationError, match="FAST_FORWARD_AND_CHILD_WORKITEM"):
        app.migrate(old, to_version="v2")
    assert dump(app) == before


def test_routers_are_followed_while_fast_forwarding(app):
    """An XOR split whose router picks `admit`: only `admit` is enabled (its migrator runs);
    the other branches' migrators are never consulted."""
    calls = Calls()

    def workflow(*branches: str) -> tq.builder.WorkflowBuilder:
        wf = (
            Builder.workflow("er")
            .start_condition("start")
            .end_condition("end")
            .task("assessment", task_with_item().with_split_type("xor"))
        )
        for branch in branches:
            wf = wf.task(branch, task_with_item()).connect_task(
                branch, lambda to: to.condition("end")
            )

        def route(ctx: tq.RouterContext) -> tq.Route:
            return ctx.route.to_task("admit")

        def flows(to: Any) -> None:
            for branch in branches:
                to.task(branch)
            to.route(route)

        return wf.connect_condition("start", lambda to: to.task("assessment")).connect_task(
            "assessment", flows
        )

    v1 = workflow("admit", "discharge")
    v2 = workflow("admit", "discharge", "telemedicine")
    migration = tq.migrate(v1, v2).with_task_migrators(
        {
            "er/assessment": calls.migrator("er/assessment", FF),
            "er/admit": calls.migrator("er/admit", FF),
            "er/discharge": calls.migrator("er/discharge", FF),
            "er/telemedicine": calls.migrator("er/telemedicine", FF),
        }
    )
    versions = app.register(
        tq.versions("er").version("v1", v1).version("v2", v2).with_migration("v1->v2", migration)
    )
    old = versions.api("v1").internal_initialize_root_workflow()
    new = app.migrate(old, to_version="v2")
    assert [c[1] for c in calls.of("migrator")] == ["er/assessment", "er/admit"]
    assert versions.api("v2").get_workflow_task_states(new) == {
        "assessment": "completed",
        "admit": "completed",
        "discharge": "disabled",
        "telemedicine": "disabled",
    }
    assert versions.api("v2").get_workflow_state(new) == "completed"


def composite_versions(calls: Calls) -> tq.VersionsBuilder:
    """A root intake -> diagnostics (composite) -> discharge; the child v2 adds labReview."""

    def child(*names: str) -> tq.builder.WorkflowBuilder:
        return chain("compositeDiagnostics", *((n, task_with_item()) for n in names))

    def start_child(ctx: tq.CompositeTaskActivityContext) -> None:
        if ctx.execution_mode == "normal":
            ctx.workflow.initialize()

    def root(child_workflow: tq.builder.WorkflowBuilder) -> tq.builder.WorkflowBuilder:
        diagnostics = Builder.composite_task(child_workflow).with_activities(on_enabled=start_child)
        return chain(
            "er",
            ("intake", task_with_item()),
            ("diagnostics", diagnostics),
            ("discharge", task_with_item()),
        )

    v1 = root(child("triage", "assignDoctor"))
    v2 = root(child("triage", "assignDoctor", "labReview"))

    def recreate(ctx: tq.CompositeTaskMigratorContext) -> tq.MigrationMode:
        calls.log.append(("child", ctx.workflow.initialize()))
        return CONTINUE

    migration = tq.migrate(v1, v2).with_task_migrators(
        {
            "er/intake": calls.migrator("er/intake", FF),
            "er/diagnostics": recreate,
            "compositeDiagnostics/triage": calls.migrator("triage", FF),
            "compositeDiagnostics/assignDoctor": calls.migrator("assignDoctor", FF),
        }
    )
    return tq.versions("er").version("v1", v1).version("v2", v2).with_migration("v1->v2", migration)


def test_composite_children_are_recreated_and_fast_forwarded(app):
    calls = Calls()
    versions = app.register(composite_versions(calls))
    v1, v2 = versions.api("v1"), versions.api("v2")
    old = v1.internal_initialize_root_workflow()
    finish(v1, old, "intake")
    (old_child,) = v1.list_child_workflows(old, "diagnostics")
    finish(v1, old_child.id, "triage")
    finish(v1, old_child.id, "assignDoctor")

    new = app.migrate(old, to_version="v2")

    (child_record,) = v2.list_child_workflows(new, "diagnostics")
    assert calls.of("child") == [("child", child_record.id)]
    assert [c[1] for c in calls.of("migrator")] == ["er/intake", "triage", "assignDoctor"]
    assert v2.get_workflow_task_states(child_record.id) == {
        "triage": "completed",
        "assignDoctor": "completed",
        "labReview": "enabled",
    }
    assert v2.get_workflow_task_states(new) == {
        "intake": "completed",
        "diagnostics": "started",
        "discharge": "disabled",
    }
    assert v1.get_workflow_state(old_child.id) == "completed"  # done before the migration
    finish(v2, child_record.id, "labReview")
    assert v2.get_workflow_state(child_record.id) == "completed"
    assert v2.get_workflow_task_states(new)["discharge"] == "enabled"


def test_dynamic_composite_children_are_recreated_by_name(app):
    def child(name: str, *tasks: str) -> tq.builder.WorkflowBuilder:
        return chain(name, *((t, task_with_item()) for t in tasks))

    def start_a(ctx: tq.DynamicCompositeTaskActivityContext) -> None:
        if ctx.execution_mode == "normal":
            ctx.workflow.initialize["childA"]()

    def root(second_step: bool) -> tq.builder.WorkflowBuilder:
        children = [
            child("childA", "step1", *(["step2"] if second_step else [])),
            child("childB", "step1", *(["step2"] if second_step else [])),
        ]
        dynamic = Builder.dynamic_composite_task(children).with_activities(on_enabled=start_a)
        return chain("flow", ("dyn", dynamic), ("finalize", task_with_item()))

    def recreate(ctx: tq.DynamicCompositeTaskMigratorContext) -> tq.MigrationMode:
        ctx.workflow.initialize["childA"]()
        ctx.workflow.initialize.childB()
        return CONTINUE

    v1, v2 = root(False), root(True)
    migration = tq.migrate(v1, v2).with_task_migrators(
        {"flow/dyn": recreate, "childA/step1": lambda ctx: FF, "childB/step1": lambda ctx: FF}
    )
    versions = app.register(
        tq.versions("flow").version("v1", v1).version("v2", v2).with_migration("v1->v2", migration)
    )
    old = versions.api("v1").internal_initialize_root_workflow()
    new = app.migrate(old, to_version="v2")
    api = versions.api("v2")
    children = api.list_child_workflows(new, "dyn")
    assert sorted(c.name for c in children) == ["childA", "childB"]
    for c in children:
        assert api.get_workflow_task_states(c.id) == {"step1": "completed", "step2": "enabled"}
    for c in children:
        finish(api, c.id, "step2")
    assert api.get_workflow_task_states(new) == {"dyn": "completed", "finalize": "enabled"}


def test_the_finalizer_runs_when_the_migrated_instance_is_canceled(app):
    calls = Calls()
    versions = app.register(simple_versions(calls))
    old = versions.api("v1").internal_initialize_root_workflow()
    new = app.migrate(old, to_version="v2")
    versions.api("v2").internal_cancel_root_workflow(new)
    assert calls.of("finalizer") == [("finalizer", new, "canceled", old)]


def test_migrating_across_versions_goes_step_by_step_and_finalizes_each_step(app):
    finalized: list[tuple[str, str]] = []

    def finalizer(name: str) -> Any:
        return lambda ctx: finalized.append((name, ctx.result.state))

    v1 = chain("wf", ("A", task_with_item()))
    v2 = chain("wf", ("A", task_with_item()), ("B", task_with_item()))
    v3 = chain("wf", ("A", task_with_item()), ("B", task_with_item()), ("C", task_with_item()))
    versions = app.register(
        tq.versions("wf")
        .version("v1", v1)
        .version("v2", v2)
        .version("v3", v3)
        .with_migration("v1->v2", tq.migrate(v1, v2).with_finalizer(finalizer("v1->v2")))
        .with_migration("v2->v3", tq.migrate(v2, v3).with_finalizer(finalizer("v2->v3")))
    )
    old = versions.api("v1").internal_initialize_root_workflow()
    newest = app.migrate(old, to_version="v3")
    snapshot = versions.api("v3").get_workflow_snapshot(newest)
    middle = snapshot.migrated_from
    assert middle is not None and middle != old
    assert versions.api("v2").get_workflow_snapshot(middle).migrated_from == old
    assert finalized == [("v1->v2", "canceled")]  # the v2 instance was replaced in turn
    assert snapshot.version_name == "v3"


@pytest.mark.parametrize(
    "case",
    ["no migration", "finished", "child", "unknown version", "not later", "unknown id"],
)
def test_a_refused_migration_changes_nothing(app, case):
    v1 = chain("wf", ("A", task_with_item()))
    v2 = chain("wf", ("A", task_with_item()), ("B", task_with_item()))
    v3 = chain("wf", ("B", task_with_item()))
    child = chain("child", ("c", task_with_item()))

    def start_child(ctx: tq.CompositeTaskActivityContext) -> None:
        ctx.workflow.initialize()

    with_child = chain(
        "parent", ("P", Builder.composite_task(child).with_activities(on_enabled=start_child))
    )
    versions = app.register(
        tq.versions("wf")
        .version("v1", v1)
        .version("v2", v2)
        .version("v3", v3)
        .with_migration("v1->v2", tq.migrate(v1, v2))
    )
    parent = app.register(with_child).api()
    api = versions.api("v1")
    workflow_id = api.internal_initialize_root_workflow()
    expected: tuple[type[Exception], str]
    if case == "no migration":
        workflow_id = app.migrate(workflow_id, to_version="v2")
        target, expected = "v3", (tq.WorkflowMigrationNotFoundError, "no migration")
    elif case == "finished":
        api.internal_cancel_root_workflow(workflow_id)
        target, expected = "v2", (tq.WorkflowInvalidStateError, "canceled")
    elif case == "child":
        parent_id = parent.internal_initialize_root_workflow()
        workflow_id = parent.list_child_workflows(parent_id, "P")[0].id
        target, expected = "v2", (tq.StructuralIntegrityError, "child workflow")
    elif case == "unknown version":
        target, expected = "v9", (tq.UnknownVersionError, "v9")
    elif case == "not later":
        target, expected = "v1", (tq.UnknownVersionError, "not a later version")
    else:
        workflow_id, target, expected = "nope", "v2", (tq.WorkflowNotFoundError, "nope")
    before = dump(app)
    with pytest.raises(expected[0], match=expected[1]):
        app.migrate(workflow_id, to_version=target)
    assert dump(app) == before


def test_a_migrator_naming_a_task_the_target_lacks_is_refused_at_register(app):
    v1 = chain("wf", ("A", task_with_item()))
    v2 = chain("wf", ("A", task_with_item()))
    for key, named in (("wf/Z", "no task 'Z'"), ("other/A", "no workflow 'other'")):
        migration = tq.migrate(v1, v2).with_task_migrators({key: lambda ctx: FF})
        with pytest.raises(tq.UnknownElementError, match=named):
            app.register(
                tq.versions("wf")
                .version("v1", v1)
                .version("v2", v2)
                .with_migration("v1->v2", migration)
            )
        assert not app.is_registered("wf")


@pytest.mark.parametrize(
    ("name", "error"),
    [("v2->v1", tq.WorkflowDefinitionError), ("v1->v9", tq.UnknownVersionError)],
)
def test_a_migration_must_go_to_the_next_registered_version(app, name, error):
    v1, v2 = chain("wf", ("A", task_with_item())), chain("wf", ("B", task_with_item()))
    with pytest.raises(error):
        app.register(
            tq.versions("wf")
            .version("v1", v1)
            .version("v2", v2)
            .with_migration(name, tq.migrate(v1, v2))
        )


def test_a_migrator_returning_something_else_is_refused(app):
    v1, v2 = chain("wf", ("A", task_with_item())), chain("wf", ("A", task_with_item()))
    migration = tq.migrate(v1, v2).with_task_migrators({"wf/A": lambda ctx: "complete"})  # type: ignore[arg-type,return-value]
    versions = app.register(
        tq.versions("wf").version("v1", v1).version("v2", v2).with_migration("v1->v2", migration)
    )
    old = versions.api("v1").internal_initialize_root_workflow()
    before = dump(app)
    with pytest.raises(tq.InvalidMigrationModeError, match="MigrationMode"):
        app.migrate(old, to_version="v2")
    assert dump(app) == before


def test_jobs_of_the_old_instance_are_canceled_by_the_migration(app):
    @app.mutation(name="migration.noop")
    def noop(ctx: tq.MutationContext) -> None:
        pass

    def remind(ctx: tq.TaskActivityContext) -> None:
        ctx.work_item.initialize()
        ctx.register_scheduled(ctx.scheduler.run_after(3600, noop))

    v1 = chain("wf", ("A", task_with_item().with_activities(on_enabled=remind)))
    v2 = chain("wf", ("A", task_with_item()))
    versions = app.register(
        tq.versions("wf")
        .version("v1", v1)
        .version("v2", v2)
        .with_migration("v1->v2", tq.migrate(v1, v2))
    )
    old = versions.api("v1").internal_initialize_root_workflow()
    (job,) = app.list_jobs()
    assert job.state == "pending"
    app.migrate(old, to_version="v2")
    assert app.get_job(job.id).state == "canceled"  # type: ignore[union-attr]


def test_migrate_all_goes_on_past_a_failing_instance_and_reports_it(app):
    def initializer(ctx: tq.MigrationInitializerContext) -> None:
        if ctx.migrating_from_workflow.id == doomed[0]:
            raise ValueError("this one cannot be migrated")

    doomed: list[str] = []
    v1 = chain("wf", ("A", task_with_item()), ("B", task_with_item()))
    v2 = chain("wf", ("A", task_with_item()), ("B", task_with_item()), ("C", task_with_item()))
    migration = (
        tq.migrate(v1, v2)
        .with_initializer(initializer)
        .with_task_migrators({"wf/A": lambda ctx: FF})
    )
    versions = app.register(
        tq.versions("wf").version("v1", v1).version("v2", v2).with_migration("v1->v2", migration)
    )
    v1_api = versions.api("v1")
    ids = [v1_api.internal_initialize_root_workflow() for _ in range(5)]
    doomed.append(ids[2])
    finished = v1_api.internal_initialize_root_workflow()
    v1_api.internal_cancel_root_workflow(finished)
    progress: list[tq.MigrationOutcome] = []

    outcomes = app.migrate_all(
        "wf", from_version="v1", to_version="v2", batch_size=2, on_progress=progress.append
    )

    assert [o.workflow_id for o in outcomes] == ids  # the canceled one is not running
    assert progress == outcomes
    failed = [o for o in outcomes if o.error]
    assert [o.workflow_id for o in failed] == [ids[2]]
    assert "cannot be migrated" in (failed[0].error or "")
    assert v1_api.get_workflow_state(ids[2]) == "initialized"  # left as it was
    for outcome in outcomes:
        if outcome.error is None:
            assert outcome.new_workflow_id is not None
            assert versions.api("v2").get_workflow_task_states(outcome.new_workflow_id) == {
                "A": "completed",
                "B": "enabled",
                "C": "disabled",
            }


def test_a_dry_run_reports_what_each_instance_would_become_and_writes_nothing(app):
    v1 = chain("wf", ("A", task_with_item()))
    v2 = chain("wf", ("A", task_with_item()), ("B", task_with_item()))
    migration = tq.migrate(v1, v2).with_task_migrators({"wf/A": lambda ctx: FF})
    versions = app.register(
        tq.versions("wf").version("v1", v1).version("v2", v2).with_migration("v1->v2", migration)
    )
    ids = [versions.api("v1").internal_initialize_root_workflow() for _ in range(3)]
    before = dump(app)
    outcomes = app.migrate_all("wf", from_version="v1", to_version="v2", dry_run=True)
    assert dump(app) == before
    assert [o.workflow_id for o in outcomes] == ids
    assert all(o.task_states == {"A": "completed", "B": "enabled"} for o in outcomes)


def test_a_migration_racing_a_completion_on_the_same_instance_serializes(app):
    """Exactly one of them acts on the instance as it was: either the completion lands first and
    the migration carries it over, or the migration lands first and the completion is refused."""
    v1 = chain("wf", ("A", task_with_item()), ("B", task_with_item()))
    v2 = chain("wf", ("A", task_with_item()), ("B", task_with_item()))

    def done_if_completed(ctx: tq.TaskMigratorContext) -> tq.MigrationMode:
        old = ctx.migrating_from_workflow.id
        states = versions.api("v1").get_workflow_task_states(old, ctx=ctx)
        return FF if states["A"] == "completed" else CONTINUE

    migration = tq.migrate(v1, v2).with_task_migrators({"wf/A": done_if_completed})
    versions = app.register(
        tq.versions("wf").version("v1", v1).version("v2", v2).with_migration("v1->v2", migration)
    )
    outcomes = Counter(race_once(app, versions) for _ in range(6))
    assert sum(outcomes.values()) == 6


def race_once(app: tq.App, versions: tq.WorkflowVersions) -> str:
    v1_api, v2_api = versions.api("v1"), versions.api("v2")
    old = v1_api.internal_initialize_root_workflow()
    (item,) = v1_api.list_work_items(old)
    v1_api.internal_start_work_item(item.id)
    results: dict[str, Any] = {}
    barrier = threading.Barrier(2)

    def complete() -> None:
        barrier.wait()
        try:
            v1_api.internal_complete_work_item(item.id)
            results["complete"] = "ok"
        except tq.WorkItemInvalidStateError:
            results["complete"] = "refused"

    def migrate() -> None:
        barrier.wait()
        results["new"] = app.migrate(old, to_version="v2")

    threads = [threading.Thread(target=complete), threading.Thread(target=migrate)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    states = v2_api.get_workflow_task_states(results["new"])
    if results["complete"] == "ok":
        assert states["A"] == "completed", (results, states)
        return "completion first"
    assert results["complete"] == "refused", (results, states)
    assert states["A"] == "enabled"
    return "migration first"
