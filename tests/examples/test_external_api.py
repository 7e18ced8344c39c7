"""examples/external_api.py: business errors fail the item, infrastructure errors retry."""

from datetime import timedelta

import pytest

import tasquencer as tq
from examples import external_api

DECLINED_CARD = external_api.DECLINED_CARD
OK_CARD = external_api.OK_CARD
FakeGateway = external_api.FakeGateway
order_of = external_api.order_of

CHARGE = "external_api.charge_card"
FLAKY = "5555 5555 5555 4444"


def place(app, api, card):
    workflow_id = api.initialize_root_workflow({"card": card, "amount_cents": 1999})
    (item,) = api.list_work_items(workflow_id, task_name="charge")
    (job,) = [j for j in app.list_jobs(function=CHARGE) if j.args["work_item_id"] == item.id]
    return workflow_id, item, job


def test_a_captured_payment_ships_the_order(app):
    api = external_api.build(app)
    workflow_id, item, job = place(app, api, OK_CARD)

    assert app.run_due_jobs() == 1

    assert api.get_work_item_state(item.id) == "completed"
    assert api.get_workflow_task_states(workflow_id) == {
        "charge": "completed",
        "ship": "completed",
        "compensate": "disabled",
    }
    assert api.get_workflow_state(workflow_id) == "completed"
    order = order_of(app, workflow_id)
    assert (order.payment, order.status) == ("captured", "paid, shipping")
    assert order.charge_id.startswith("ch_")
    assert app.get_job(job.id).state == "success"


def test_a_declined_card_fails_the_work_item_and_the_workflow_compensates(app):
    gateway = FakeGateway()
    api = external_api.build(app, gateway=gateway)
    workflow_id, item, job = place(app, api, DECLINED_CARD)

    assert app.run_due_jobs() == 1

    # A business error is not retried: one call, the job itself succeeded.
    assert len(gateway.calls) == 1
    job = app.get_job(job.id)
    assert (job.state, job.attempts) == ("success", 1)
    assert api.get_work_item_state(item.id) == "failed"
    states = api.get_workflow_task_states(workflow_id)
    assert (states["charge"], states["compensate"], states["ship"]) == (
        "completed",
        "completed",
        "disabled",
    )
    assert api.get_workflow_state(workflow_id) == "completed"
    order = order_of(app, workflow_id)
    assert order.payment == "declined"
    assert order.status == "stock released, customer told: card declined: insufficient funds"


def test_a_timeout_is_retried_with_backoff_until_the_gateway_answers(app):
    retry = tq.Retry(attempts=4, initial_delay=10.0, max_delay=60.0)
    gateway = FakeGateway(timeouts={FLAKY: 2})
    api = external_api.build(app, gateway=gateway, retry=retry)
    workflow_id, item, job = place(app, api, FLAKY)

    assert app.run_due_jobs() == 1  # attempt 1: timeout
    job = app.get_job(job.id)
    assert (job.state, job.attempts) == ("pending", 1)
    assert "TimeoutError" in job.error
    # Backoff with jitter: between half and all of initial_delay.
    delay = job.run_at - app.clock.now()
    assert timedelta(seconds=5) <= delay <= timedelta(seconds=10)
    assert api.get_work_item_state(item.id) == "started"

    app.clock.advance(4.9)
    assert app.run_due_jobs() == 0  # not before the backoff is over
    app.clock.advance(5.1)
    assert app.run_due_jobs() == 1  # attempt 2: timeout again, backoff up to 20 s
    assert app.get_job(job.id).attempts == 2
    assert app.get_job(job.id).state == "pending"

    app.clock.advance(20)
    assert app.run_due_jobs() == 1  # attempt 3: the gateway answers

    job = app.get_job(job.id)
    assert (job.state, job.attempts) == ("success", 3)
    assert len(gateway.calls) == 3
    assert {key for _, _, key in gateway.calls} == {item.id}  # one idempotency key
    assert api.get_work_item_state(item.id) == "completed"
    assert api.get_workflow_state(workflow_id) == "completed"
    assert order_of(app, workflow_id).payment == "captured"


def test_when_the_retries_run_out_the_last_attempt_fails_the_work_item(app):
    retry = tq.Retry(attempts=3, initial_delay=1.0, max_delay=4.0)
    gateway = FakeGateway(timeouts={FLAKY: 99})
    api = external_api.build(app, gateway=gateway, retry=retry)
    workflow_id, item, job = place(app, api, FLAKY)

    for _ in range(3):
        app.run_due_jobs()
        app.clock.advance(4)
    assert app.run_due_jobs() == 0

    job = app.get_job(job.id)
    assert (job.state, job.attempts) == ("success", 3)
    assert len(gateway.calls) == 3
    assert api.get_work_item_state(item.id) == "failed"
    assert api.get_workflow_state(workflow_id) == "completed"
    assert order_of(app, workflow_id).decline_reason.startswith("payment gateway unavailable")


def test_only_internal_callers_settle_a_payment(app):
    api = external_api.build(app)
    _, item, _ = place(app, api, OK_CARD)
    with pytest.raises(tq.NotInternalMutationError):
        api.complete_work_item(item.id, {"charge_id": "forged"})
    assert api.get_work_item_state(item.id) == "started"


def test_main_runs(tmp_path, capsys):
    external_api.main(tmp_path, retry=tq.Retry(attempts=3, initial_delay=0.1, max_delay=0.2))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    good, declined, flaky, down = lines
    assert "charge completed job success after 1 attempt(s); order: paid, shipping" in good
    assert "charge failed    job success after 1 attempt(s)" in declined
    assert "card declined" in declined
    assert "charge completed job success after 3 attempt(s)" in flaky
    assert "charge failed    job success after 3 attempt(s)" in down
    assert "payment gateway unavailable" in down
