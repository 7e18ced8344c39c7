"""What the audit trail records: a span per engine operation, nested under its call and the
activity it ran in, one trace per workflow tree numbered across transactions, the caller, the
payloads only when asked, and nothing of what was rolled back or ran with `audit=None`."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import tasquencer as tq
from tasquencer import Builder
from tests.helpers import auto_task, one_task_workflow

ANN = tq.User("ann")


def flat(spans: list[tq.TraceSpan]) -> list[tq.TraceSpan]:
    return [s for span in spans for s in (span, *flat(span.children))]


def reviewed() -> Any:
    """One task whose work item anybody may complete, with a payload."""

    def complete(ctx: tq.WorkItemActionContext, payload: dict[str, Any]) -> None:
        ctx.work_item.complete()

    item = Builder.work_item("review").with_actions(
        Builder.work_item_actions().complete(dict[str, Any], complete)
    )
    task = Builder.task(item).with_activities(on_enabled=lambda ctx: ctx.work_item.initialize())
    return one_task_workflow(task, "reviewed", task_name="review")


def with_child() -> Any:
    child = (
        Builder.workflow("child")
        .start_condition("s")
        .end_condition("e")
        .task("c", auto_task())
        .connect_condition("s", lambda to: to.task("c"))
        .connect_task("c", lambda to: to.condition("e"))
    )
    composite = Builder.composite_task(child).with_activities(
        on_enabled=lambda ctx: ctx.workflow.initialize()
    )
    return (
        Builder.workflow("parent")
        .start_condition("start")
        .end_condition("end")
        .composite_task("sub", composite)
        .connect_condition("start", lambda to: to.task("sub"))
        .connect_task("sub", lambda to: to.condition("end"))
    )


def register(app: tq.App, workflow: Any) -> tq.WorkflowApi:
    return app.register(workflow).api()


def test_a_call_s_spans_nest_under_it_and_under_the_activities_they_ran_in(app):
    api = register(app, reviewed())
    case = api.internal_initialize_root_workflow()
    (call,) = api.get_trace_spans(case)
    assert (call.operation, call.caller, call.parent_seq) == (
        "Api.internal_initialize_root_workflow",
        "internal",
        None,
    )
    assert [s.operation for s in call.children] == [
        "Workflow.initialize",
        "Task.enable",
        "TaskActivity.on_enabled",
    ]
    activity = call.children[2]
    assert [(s.operation, s.parent_seq) for s in activity.children] == [
        ("WorkItem.initialize", activity.seq)
    ]
    assert all(s.trace_id == case for s in flat([call]))


def test_children_share_the_root_s_trace_and_numbers_rise_across_transactions(app):
    api = register(app, with_child())
    root = api.internal_initialize_root_workflow()
    (child,) = api.list_child_workflows(root)
    (item,) = api.list_work_items(child.id)
    api.internal_complete_work_item(item.id)
    spans = flat(api.get_trace_spans(root))
    assert flat(api.get_trace_spans(child.id)) == spans
    assert [s.seq for s in spans] == list(range(len(spans)))
    calls = [s for s in spans if s.operation.startswith("Api.")]
    assert [c.operation for c in calls] == [
        "Api.internal_initialize_root_workflow",
        "Api.internal_complete_work_item",
    ]
    assert {s.workflow_id for s in spans} >= {root, child.id}
    assert api.get_workflow_state(root) == "completed"


def test_the_history_lists_the_changes_of_one_workflow_with_who_made_them(app):
    api = register(app, reviewed())
    case = api.internal_initialize_root_workflow()
    (item,) = api.list_work_items(case)
    api.internal_start_work_item(item.id)
    api.complete_work_item(item.id, {"ok": True}, user=ANN)
    history = api.get_workflow_history(case)
    assert [(e.operation, e.element, e.state, e.generation) for e in history] == [
        ("Workflow.initialize", case, "initialized", None),
        ("Task.enable", "review", "enabled", 1),
        ("WorkItem.initialize", item.id, "initialized", 1),
        ("Workflow.start", case, "started", None),
        ("Task.start", "review", "started", 1),
        ("WorkItem.start", item.id, "started", None),
        ("WorkItem.complete", item.id, "completed", None),
        ("Task.complete", "review", "completed", 1),
        ("Workflow.complete", case, "completed", None),
    ]
    assert [(e.caller, e.user_id) for e in history][-3:] == [("external", "ann")] * 3
    assert history[0].caller == "internal" and history[0].user_id is None
    assert [e.seq for e in history] == sorted(e.seq for e in history)
    # Without one from the caller, a call's spans share the call's correlation id.
    finishing = {e.correlation_id for e in history[-3:]}
    assert len(finishing) == 1 and finishing != {history[0].correlation_id}


def test_payloads_are_recorded_only_when_asked(app, tmp_path):
    api = register(app, reviewed())
    case = api.internal_initialize_root_workflow()
    (item,) = api.list_work_items(case)
    api.internal_start_work_item(item.id)
    api.complete_work_item(item.id, {"secret": 42})
    assert all(
        s.attributes is None or "payload" not in s.attributes
        for s in flat(api.get_trace_spans(case))
    )

    with tq.testing.create_app(
        tmp_path / "payloads.db", audit=tq.Audit(include_payloads=True)
    ) as other:
        api = register(other, reviewed())
        case = api.internal_initialize_root_workflow()
        (item,) = api.list_work_items(case)
        api.internal_start_work_item(item.id)
        api.complete_work_item(item.id, {"secret": 42})
        calls = [
            s for s in flat(api.get_trace_spans(case)) if s.operation == "Api.complete_work_item"
        ]
        assert [c.attributes for c in calls] == [{"payload": {"secret": 42}}]


def test_a_refused_call_and_a_rolled_back_nested_call_record_nothing(app):
    api = register(app, reviewed())
    case = api.internal_initialize_root_workflow()
    (item,) = api.list_work_items(case)
    before = flat(api.get_trace_spans(case))
    with pytest.raises(tq.WorkItemInvalidStateError):
        api.internal_complete_work_item(item.id, {})  # not started
    assert flat(api.get_trace_spans(case)) == before

    @app.mutation
    def start_then_fail(ctx: tq.MutationContext, work_item_id: str) -> None:
        api.internal_start_work_item(work_item_id, ctx=ctx)
        raise ValueError("changed my mind")

    @app.mutation
    def try_then_start(ctx: tq.MutationContext, work_item_id: str) -> None:
        with contextlib.suppress(ValueError):  # its start is rolled back to the savepoint
            app.run_mutation(start_then_fail, ctx=ctx, work_item_id=work_item_id)
        assert api.get_work_item_state(work_item_id, ctx=ctx) == "initialized"
        api.internal_start_work_item(work_item_id, ctx=ctx)

    app.run_mutation(try_then_start, work_item_id=item.id)
    added = flat(api.get_trace_spans(case))[len(before) :]
    assert [s.operation for s in added] == [
        "Api.internal_start_work_item",
        "Workflow.start",
        "Task.start",
        "Condition.decrementMarking",
        "WorkItem.start",
    ]
    assert [s.seq for s in added] == list(range(len(before), len(before) + 5))


def test_a_call_made_inside_an_activity_nests_under_it_across_the_flush_before_it(app):
    def start_it(ctx: tq.WorkItemActivityContext) -> None:
        api.internal_start_work_item(ctx.work_item.id, ctx=ctx)

    item = Builder.work_item("item").with_activities(on_initialized=start_it)
    task = Builder.task(item).with_activities(on_enabled=lambda ctx: ctx.work_item.initialize())
    workflow = (
        Builder.workflow("nested")
        .start_condition("start")
        .end_condition("end")
        .task("t", task)
        .connect_condition("start", lambda to: to.task("t"))
        .connect_task("t", lambda to: to.condition("end"))
    )
    api = register(app, workflow)
    case = api.internal_initialize_root_workflow()
    spans = flat(api.get_trace_spans(case))
    by_seq = {s.seq: s for s in spans}
    (nested,) = [s for s in spans if s.operation == "Api.internal_start_work_item"]
    assert by_seq[nested.parent_seq].operation == "WorkItemActivity.on_initialized"
    assert [s.operation for s in nested.children] == [
        "Workflow.start",
        "Task.start",
        "Condition.decrementMarking",
        "WorkItem.start",
    ]
    assert [s.seq for s in spans] == sorted(s.seq for s in spans)


def test_with_audit_off_nothing_is_recorded_and_the_past_cannot_be_asked(tmp_path):
    with tq.testing.create_app(tmp_path / "off.db", audit=None) as app:
        api = register(app, reviewed())
        case = api.internal_initialize_root_workflow()
        assert api.get_trace_spans(case) == []
        assert api.get_workflow_history(case) == []
        with pytest.raises(tq.AuditRecordMissingError, match=case):
            api.get_workflow_state_at(case, app.clock.now())


def test_bad_times_and_unknown_workflows_are_refused(app):
    api = register(app, reviewed())
    case = api.internal_initialize_root_workflow()
    with pytest.raises(TypeError, match="when must be a datetime"):
        api.get_workflow_state_at(case, "2026-01-01")  # type: ignore[arg-type]
    too_early = datetime.min.replace(tzinfo=timezone(timedelta(hours=1)))
    with pytest.raises(ValueError, match="outside the years 1 to 9999"):
        api.get_workflow_state_at(case, too_early)
    with pytest.raises(tq.WorkflowNotFoundError):
        api.get_workflow_history("01M8Y4EK0GWVY3NCYH1RFD88HH")
    naive = app.clock.now().replace(tzinfo=None)
    assert api.get_workflow_state_at(case, naive) == api.get_workflow_snapshot(case)


def test_prune_audit_deletes_only_traces_that_finished_long_enough_ago(app):
    api = register(app, reviewed())
    done = api.internal_initialize_root_workflow()
    api.internal_cancel_root_workflow(done)
    running = api.internal_initialize_root_workflow()
    app.clock.advance(3600)
    assert app.prune_audit(older_than=7200) == 0
    assert app.prune_audit(older_than=1800) == 1
    assert api.get_trace_spans(done) == []
    assert api.get_trace_spans(running) != []
    with pytest.raises(ValueError):
        app.prune_audit(older_than=-1)


def test_past_states_come_back_exactly_on_every_database(app):
    api = register(app, with_child())
    root = api.internal_initialize_root_workflow()
    (child,) = api.list_child_workflows(root)
    (item,) = api.list_work_items(child.id)
    seen = [(app.clock.now(), api.get_workflow_snapshot(root), api.get_workflow_snapshot(child.id))]
    for action in ("reset", "start", "complete"):
        app.clock.advance(1)
        getattr(api, f"internal_{action}_work_item")(item.id)
        seen.append(
            (app.clock.now(), api.get_workflow_snapshot(root), api.get_workflow_snapshot(child.id))
        )
    for when, root_then, child_then in seen:
        assert api.get_workflow_state_at(root, when) == root_then
        assert api.get_workflow_state_at(child.id, when) == child_then
    assert seen[1][2].work_items[0].state == "initialized"  # the reset is replayed
