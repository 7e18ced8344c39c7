"""examples/async_email.py: the email goes pending → sent, from a scheduled action."""

import pytest

import tasquencer as tq
from examples import async_email


@pytest.fixture
def api(app):
    return async_email.build(app)


def start(api):
    workflow_id = api.initialize_root_workflow({"email": "ada@example.com", "name": "Ada"})
    (item,) = api.list_work_items(workflow_id)
    return workflow_id, item


def test_email_goes_from_pending_to_sent_and_the_workflow_completes(app, api):
    workflow_id, item = start(api)
    assert async_email.get_email(app, item.id).status == "pending"
    assert item.state == "started"
    (job,) = app.list_jobs(function="async_email.send_email")
    assert job.state == "pending"
    assert job.args == {
        "work_item_id": item.id,
        "to": "ada@example.com",
        "subject": "Welcome, Ada!",
    }
    sent_before = len(async_email.OUTBOX)

    assert app.run_due_jobs() == 1

    email = async_email.get_email(app, item.id)
    assert email.status == "sent"
    assert email.completed_by == "system"
    assert async_email.OUTBOX[sent_before:] == [
        {
            "to": "ada@example.com",
            "subject": "Welcome, Ada!",
            "message_id": email.provider_message_id,
        }
    ]
    assert api.get_work_item_state(item.id) == "completed"
    assert api.get_workflow_state(workflow_id) == "completed"
    job = app.get_job(job.id)
    assert (job.state, job.attempts, job.error) == ("success", 1, None)


def test_the_custom_complete_action_lets_internal_callbacks_through_but_not_anonymous_users(
    app, api
):
    workflow_id, item = start(api)
    with pytest.raises(PermissionError, match="signed-in user"):
        api.complete_work_item(item.id, {"provider_message_id": "by-hand"})
    assert async_email.get_email(app, item.id).status == "pending"  # rolled back

    with async_email.acting_as("support-agent"):
        api.complete_work_item(item.id, {"provider_message_id": "by-hand"})
    email = async_email.get_email(app, item.id)
    assert (email.status, email.completed_by) == ("sent", "support-agent")
    assert api.get_workflow_state(workflow_id) == "completed"

    # The work item is done: its pending send_email job was canceled with it.
    (job,) = app.list_jobs(function="async_email.send_email")
    assert job.state == "canceled"
    assert app.run_due_jobs() == 0


def test_the_payload_is_validated_by_the_action_schema(api):
    _, item = start(api)
    with pytest.raises(Exception, match="provider_message_id"):
        api.internal_complete_work_item(item.id, {"wrong": 1})


def test_main_runs(tmp_path, capsys):
    async_email.main(tmp_path)
    out = capsys.readouterr().out
    assert "is pending" in out
    assert "success after 1 attempt(s)" in out
    assert "is sent (msg-" in out
    assert "is completed" in out


def test_only_the_workflow_creates_emails(api):
    workflow_id, _ = start(api)
    target = {
        "path": ["welcome", "send_welcome_email", "send_welcome_email"],
        "parent_workflow_id": workflow_id,
        "parent_task_name": "send_welcome_email",
    }
    with pytest.raises(tq.NotInternalMutationError):
        api.initialize_work_item(target, {"to": "eve@example.com", "subject": "spam"})
    assert len(api.list_work_items(workflow_id)) == 1
