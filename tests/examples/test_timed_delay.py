"""examples/timed_delay.py: a work item completed by a job an hour later."""

import pytest

from examples import timed_delay

HOUR = timed_delay.HOUR
contract_of = timed_delay.contract_of

COMPLETE = "tasquencer.api:contract:v1:internal_complete_work_item"


@pytest.fixture
def api(app):
    return timed_delay.build(app)


def sign(api):
    workflow_id = api.initialize_root_workflow({"customer": "ada"})
    (item,) = api.list_work_items(workflow_id, task_name="cooling_off")
    return workflow_id, item


def test_nothing_happens_before_the_hour_is_up_and_the_item_completes_after(app, api):
    workflow_id, item = sign(api)
    job = app.get_job(contract_of(app, workflow_id).cooling_off_job)
    assert (job.function, job.state, job.args) == (COMPLETE, "pending", {"work_item_id": item.id})
    assert (job.run_at - job.created_at).total_seconds() == HOUR

    app.clock.advance(HOUR - 1)
    assert app.run_due_jobs() == 0
    assert api.get_work_item_state(item.id) == "started"
    assert api.get_workflow_state(workflow_id) == "started"

    app.clock.advance(1)
    assert app.run_due_jobs() == 1
    assert api.get_work_item_state(item.id) == "completed"
    assert api.get_workflow_state(workflow_id) == "completed"
    assert app.get_job(job.id).state == "success"


def test_the_activities_of_the_scheduled_completion_update_the_domain_table(app, api):
    workflow_id, _ = sign(api)
    app.clock.advance(HOUR)
    app.run_due_jobs()
    assert api.get_workflow_state(workflow_id) == "completed"
    # The workflow's on_completed set the contract active, in the job's transaction.
    assert contract_of(app, workflow_id).status == "active"


def test_withdrawing_before_the_hour_cancels_the_job_and_it_never_runs(app, api):
    workflow_id, item = sign(api)
    app.clock.advance(HOUR / 2)
    api.internal_cancel_root_workflow(workflow_id)

    job = app.get_job(contract_of(app, workflow_id).cooling_off_job)
    assert job.state == "canceled"
    assert api.get_work_item_state(item.id) == "canceled"
    assert contract_of(app, workflow_id).status == "withdrawn"

    app.clock.advance(HOUR)
    assert app.run_due_jobs() == 0
    job = app.get_job(job.id)
    assert (job.state, job.attempts) == ("canceled", 0)
    assert api.get_workflow_state(workflow_id) == "canceled"


def test_main_runs(tmp_path, capsys):
    timed_delay.main(tmp_path, delay=0.5)
    out = capsys.readouterr().out
    assert "bob withdrew at once: contract withdrawn" in out
    assert "auto-complete job success" in out
    assert "bob: contract withdrawn, auto-complete job canceled" in out
