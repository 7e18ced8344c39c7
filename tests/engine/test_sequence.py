"""A sequence of tasks driven through the public API, end to end."""

import tasquencer as tq
from tasquencer import Builder
from tests.helpers import auto_task


def sequence(n: int) -> tq.builder.WorkflowBuilder:
    wf = Builder.workflow("seq").start_condition("start").end_condition("end")
    for i in range(n):
        wf = wf.task(f"t{i}", auto_task())
    wf = wf.connect_condition("start", lambda to: to.task("t0"))
    for i in range(n - 1):
        wf = wf.connect_task(f"t{i}", lambda to, i=i: to.task(f"t{i + 1}"))
    return wf.connect_task(f"t{n - 1}", lambda to: to.condition("end"))


def test_sequence_runs_to_completion(app):
    api = app.register(tq.versions("seq").version("v1", sequence(3))).api("v1")
    wid = api.internal_initialize_root_workflow()
    for i in range(3):
        (item,) = api.list_work_items(wid, task_name=f"t{i}")
        assert item.state == "started"
        api.internal_complete_work_item(item.id)
    snapshot = api.get_workflow_snapshot(wid)
    assert snapshot.state == "completed"
    assert {n: t.state for n, t in snapshot.tasks.items()} == dict.fromkeys(
        ["t0", "t1", "t2"], "completed"
    )
    assert snapshot.conditions == {"start": 0, "end": 1, "t0__to__t1": 0, "t1__to__t2": 0}
