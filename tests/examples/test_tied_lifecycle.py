"""examples/tied_lifecycle.py: registered jobs are canceled with their element."""

import pytest

from examples import tied_lifecycle

DAY = tied_lifecycle.DAY
events_of = tied_lifecycle.events_of
expense_of = tied_lifecycle.expense_of
jobs_of = tied_lifecycle.jobs_of

FRAUD = "tied_lifecycle.run_fraud_check"
REMIND = "tied_lifecycle.remind_approver"
ESCALATE = "tied_lifecycle.escalate"


@pytest.fixture
def api(app):
    return tied_lifecycle.build(app)


def submit(api):
    workflow_id = api.initialize_root_workflow({"employee": "ada", "amount": 2500})
    (item,) = api.list_work_items(workflow_id, task_name="approve")
    return workflow_id, item


def test_all_three_jobs_are_scheduled_and_run_while_their_elements_live(app, api):
    workflow_id, item = submit(api)
    assert jobs_of(app, workflow_id) == {FRAUD: "pending", REMIND: "pending", ESCALATE: "pending"}

    assert app.run_due_jobs() == 1  # the fraud check is due at once
    app.clock.advance(DAY)
    assert app.run_due_jobs() == 1  # the reminder, a day later
    assert events_of(app, workflow_id) == ["fraud_checked", "approver_reminded"]
    assert expense_of(app, workflow_id).fraud_score == 0.25

    api.complete_work_item(item.id, {"approved": True})
    assert api.get_workflow_state(workflow_id) == "completed"
    assert jobs_of(app, workflow_id) == {FRAUD: "success", REMIND: "success", ESCALATE: "canceled"}
    app.clock.advance(7 * DAY)
    assert app.run_due_jobs() == 0


def test_a_failed_work_item_takes_its_jobs_down_with_it(app, api):
    workflow_id, item = submit(api)
    api.internal_fail_work_item(item.id)

    # The work item's fraud check is canceled; the default policy fails the task (its
    # reminder is canceled) and then the workflow (its escalation is canceled).
    assert api.get_work_item_state(item.id) == "failed"
    assert api.get_workflow_state(workflow_id) == "failed"
    assert jobs_of(app, workflow_id) == {
        FRAUD: "canceled",
        REMIND: "canceled",
        ESCALATE: "canceled",
    }
    app.clock.advance(30 * DAY)
    assert app.run_due_jobs() == 0
    assert events_of(app, workflow_id) == []
    assert expense_of(app, workflow_id).status == "approval failed"


def test_a_canceled_work_item_takes_its_jobs_down_with_it(app, api):
    workflow_id, item = submit(api)
    api.internal_cancel_work_item(item.id)

    assert api.get_work_item_state(item.id) == "canceled"
    assert jobs_of(app, workflow_id)[FRAUD] == "canceled"
    app.clock.advance(30 * DAY)
    app.run_due_jobs()
    assert "fraud_checked" not in events_of(app, workflow_id)
    assert expense_of(app, workflow_id).fraud_score is None
    assert expense_of(app, workflow_id).status == "approval canceled"


def test_canceling_the_workflow_cancels_every_job_tied_to_it_or_inside_it(app, api):
    workflow_id, item = submit(api)
    app.clock.advance(3600)
    api.internal_cancel_root_workflow(workflow_id)

    assert api.get_workflow_state(workflow_id) == "canceled"
    assert api.get_work_item_state(item.id) == "canceled"
    assert jobs_of(app, workflow_id) == {
        FRAUD: "canceled",
        REMIND: "canceled",
        ESCALATE: "canceled",
    }
    app.clock.advance(30 * DAY)
    assert app.run_due_jobs() == 0
    assert events_of(app, workflow_id) == []
    assert expense_of(app, workflow_id).status == "withdrawn"


def test_main_runs(tmp_path, capsys):
    tied_lifecycle.main(tmp_path, remind_after=0.3)
    out = capsys.readouterr().out
    assert "claim of ada" in out
    assert "events ['fraud_checked', 'approver_reminded']" in out
    assert "claim of bob" in out
    assert "workflow canceled, expense withdrawn, events []" in out
    bob = out.split("claim of bob", 1)[1]
    assert bob.count("canceled") >= 4
