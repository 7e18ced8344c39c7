"""examples/independent_lifecycle.py: teardown notifications run after the element is gone."""

import pytest

import tasquencer as tq
from examples import independent_lifecycle

notifications_of = independent_lifecycle.notifications_of
order_status = independent_lifecycle.order_status

NOTIFY = "independent_lifecycle.notify_customer"


def place(api):
    order_id = api.initialize_root_workflow({"customer": "ada"})
    (item,) = api.list_work_items(order_id)
    return order_id, item


@pytest.mark.parametrize(
    ("finish", "work_item_state", "workflow_state", "status", "kind"),
    [
        ("complete", "completed", "completed", "shipped", "shipped"),
        ("fail", "failed", "failed", "shipping failed", "shipping_failed"),
        ("cancel_item", "canceled", "completed", "canceled", "order_canceled"),
        ("cancel_workflow", "canceled", "canceled", "canceled", "order_canceled"),
    ],
)
def test_the_notification_runs_after_the_work_item_is_finished(
    app, finish, work_item_state, workflow_state, status, kind
):
    api = independent_lifecycle.build(app)
    order_id, item = place(api)
    if finish == "complete":
        api.internal_complete_work_item(item.id)
    elif finish == "fail":
        api.internal_fail_work_item(item.id)
    elif finish == "cancel_item":
        api.internal_cancel_work_item(item.id)
    else:
        api.internal_cancel_root_workflow(order_id)

    # The element is gone; the domain row was updated inline, in the same transaction.
    assert api.get_work_item_state(item.id) == work_item_state
    assert api.get_workflow_state(order_id) == workflow_state
    assert order_status(app, order_id) == status
    (job,) = app.list_jobs(function=NOTIFY)
    assert job.state == "pending"
    assert notifications_of(app, order_id) == []

    assert app.run_due_jobs() == 1
    assert notifications_of(app, order_id) == [kind]
    assert app.get_job(job.id).state == "success"


@pytest.mark.parametrize("finish", ["complete", "fail", "cancel"])
def test_register_scheduled_in_a_teardown_activity_is_refused(app, finish):
    api = independent_lifecycle.build(app, wrong_way=True)
    order_id, item = place(api)
    call = getattr(api, f"internal_{finish}_work_item")
    activity = {"complete": "on_completed", "fail": "on_failed", "cancel": "on_canceled"}[finish]

    with pytest.raises(tq.RegisterScheduledNotAllowedError) as raised:
        call(item.id)

    message = str(raised.value)
    assert activity in message
    assert "ctx.scheduler" in message
    # The whole call rolled back: nothing changed, no job was left behind.
    assert api.get_work_item_state(item.id) == "started"
    assert order_status(app, order_id) == "placed"
    assert app.list_jobs(function=NOTIFY) == []


def test_main_runs(tmp_path, capsys):
    independent_lifecycle.main(tmp_path)
    out = capsys.readouterr().out
    assert "order of ada: workflow completed, order shipped, notified ['shipped']" in out
    assert "order of bob: workflow failed" in out
    assert "order of cy: workflow canceled, order canceled, notified ['order_canceled']" in out
    assert "wrong way refused: register_scheduled is not available in on_completed" in out
    assert "work item still started" in out
