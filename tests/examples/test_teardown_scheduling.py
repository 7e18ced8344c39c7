"""examples/teardown_scheduling.py: jobs scheduled from teardown activities outlive the element."""

import pytest

from examples import teardown_scheduling

add_work = teardown_scheduling.add_work
messages_of = teardown_scheduling.messages_of
record_of = teardown_scheduling.record_of

PROCESS = "teardown_scheduling.process_data"


@pytest.fixture
def api(app):
    return teardown_scheduling.build(app)


def job_for(app, function, work_item_id):
    (job,) = [j for j in app.list_jobs(function=function) if j.args["work_item_id"] == work_item_id]
    return job


def test_while_alive_the_work_is_scheduled_with_register_scheduled(app, api):
    workflow_id = api.internal_initialize_root_workflow()
    item_id = add_work(api, workflow_id, "numbers")  # a public call: custom initialize action
    assert record_of(app, item_id).status == "processing"
    assert job_for(app, PROCESS, item_id).state == "pending"


def test_completion_marks_the_record_and_notifies_after_the_item_is_gone(app, api):
    workflow_id = api.internal_initialize_root_workflow()
    item_id = add_work(api, workflow_id, "numbers")

    assert app.run_due_jobs() == 2  # process_data, then the notification it led to

    assert api.get_work_item_state(item_id) == "completed"
    assert api.get_workflow_state(workflow_id) == "completed"
    record = record_of(app, item_id)
    assert (record.status, record.result) == ("completed", "NUMBERS")
    assert messages_of(app, item_id) == ["completed"]
    notification = job_for(app, "teardown_scheduling.send_completion_notification", item_id)
    assert notification.args == {"work_item_id": item_id, "workflow_id": workflow_id}
    assert notification.state == "success"
    assert job_for(app, PROCESS, item_id).state == "success"


def test_a_business_failure_marks_the_record_failed_and_alerts(app, api):
    workflow_id = api.internal_initialize_root_workflow()
    item_id = add_work(api, workflow_id, "  ")

    assert app.run_due_jobs() == 2

    assert api.get_work_item_state(item_id) == "failed"
    assert api.get_workflow_state(workflow_id) == "failed"
    assert record_of(app, item_id).status == "failed"
    assert messages_of(app, item_id) == ["failed"]
    alert = job_for(app, "teardown_scheduling.send_failure_alert", item_id)
    assert alert.args["timestamp"] == app.clock.now().isoformat()


@pytest.mark.parametrize("how", ["work item", "workflow"])
def test_cancellation_drops_the_work_but_still_notifies(app, api, how):
    workflow_id = api.internal_initialize_root_workflow()
    item_id = add_work(api, workflow_id, "numbers")
    if how == "work item":
        api.internal_cancel_work_item(item_id)
    else:
        api.internal_cancel_root_workflow(workflow_id)

    assert record_of(app, item_id).status == "cleaned_up"
    assert job_for(app, PROCESS, item_id).state == "canceled"
    notification = job_for(app, "teardown_scheduling.send_cancellation_notification", item_id)
    assert notification.state == "pending"

    assert app.run_due_jobs() == 1  # only the notification
    assert messages_of(app, item_id) == ["canceled"]
    assert job_for(app, PROCESS, item_id).state == "canceled"
    assert record_of(app, item_id).result is None


def test_main_runs(tmp_path, capsys):
    teardown_scheduling.main(tmp_path)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    good, bad, canceled = lines
    assert "completed" in good and "'QUARTERLY NUMBERS'" in good and "['completed']" in good
    assert "failed" in bad and "['failed']" in bad
    assert "cleaned_up" in canceled
    assert "process_data canceled" in canceled
    assert "['canceled']" in canceled
