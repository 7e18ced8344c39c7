"""examples/timeout_cancellation.py: a timer and a slow branch race; the loser is canceled."""

import pytest

from examples import timeout_cancellation

HOUR = timeout_cancellation.HOUR
FakeVerificationService = timeout_cancellation.FakeVerificationService
check_of = timeout_cancellation.check_of

SUBMIT = "timeout_cancellation.submit_check"
FETCH = "timeout_cancellation.fetch_result"
TIMER = "tasquencer.api:identity_check:v1:internal_complete_work_item"


def start(app, answer_after):
    service = FakeVerificationService(default_eta=answer_after)
    api = timeout_cancellation.build(app, timeout=HOUR, service=service)
    workflow_id = api.initialize_root_workflow({"name": "ada"})
    (verify,) = api.list_work_items(workflow_id, task_name="verify")
    (timer,) = api.list_work_items(workflow_id, task_name="timer")
    return api, workflow_id, verify, timer


def jobs(app):
    return {job.function: job for job in app.list_jobs()}


def test_both_branches_start_at_once(app):
    api, workflow_id, verify, timer = start(app, answer_after=600)
    tasks = api.get_workflow_task_states(workflow_id)
    assert (tasks["dispatch"], tasks["verify"], tasks["timer"]) == (
        "completed",
        "enabled",
        "started",
    )
    assert (verify.state, timer.state) == ("initialized", "started")

    assert app.run_due_jobs() == 1  # submit_check: the request is sent, the item started
    assert api.get_work_item_state(verify.id) == "started"
    assert check_of(app, workflow_id).status == "submitted"
    by_function = jobs(app)
    assert by_function[FETCH].state == "pending"
    assert (by_function[FETCH].run_at - app.clock.now()).total_seconds() == 600
    assert (by_function[TIMER].run_at - by_function[TIMER].created_at).total_seconds() == HOUR


def test_the_slow_branch_finishes_first_and_cancels_the_timer(app):
    api, workflow_id, verify, timer = start(app, answer_after=600)
    app.run_due_jobs()
    app.clock.advance(600)
    assert app.run_due_jobs() == 1  # fetch_result completes the verification

    tasks = api.get_workflow_task_states(workflow_id)
    assert (tasks["verify"], tasks["timer"], tasks["merge"]) == (
        "completed",
        "canceled",
        "completed",
    )
    assert api.get_work_item_state(verify.id) == "completed"
    assert api.get_work_item_state(timer.id) == "canceled"
    assert api.get_workflow_state(workflow_id) == "completed"
    by_function = jobs(app)
    assert by_function[FETCH].state == "success"
    assert by_function[TIMER].state == "canceled"
    check = check_of(app, workflow_id)
    assert (check.status, check.outcome) == ("verified", "clear")

    app.clock.advance(2 * HOUR)
    assert app.run_due_jobs() == 0  # the timer never fires
    assert api.get_work_item_state(timer.id) == "canceled"


def test_the_timer_fires_first_and_cancels_the_slow_branch(app):
    api, workflow_id, verify, timer = start(app, answer_after=2 * HOUR)
    app.run_due_jobs()  # the request is sent; the answer is expected in two hours
    app.clock.advance(HOUR)
    assert app.run_due_jobs() == 1  # the timer

    assert api.get_work_item_state(timer.id) == "completed"
    assert api.get_work_item_state(verify.id) == "canceled"
    tasks = api.get_workflow_task_states(workflow_id)
    assert (tasks["timer"], tasks["verify"], tasks["merge"]) == (
        "completed",
        "canceled",
        "completed",
    )
    assert api.get_workflow_state(workflow_id) == "completed"
    snapshot = api.get_workflow_snapshot(workflow_id)
    assert snapshot.conditions == {
        "start": 0,
        "c_verify": 0,
        "c_timer": 0,
        "c_verified": 0,
        "c_timed_out": 0,
        "end": 1,
    }
    by_function = jobs(app)
    assert by_function[TIMER].state == "success"
    assert by_function[FETCH].state == "canceled"  # tied to the canceled work item

    app.clock.advance(2 * HOUR)
    assert app.run_due_jobs() == 0  # the answer is never fetched
    assert jobs(app)[FETCH].attempts == 0


def test_the_timeout_is_recorded_in_the_domain_table(app):
    api, workflow_id, _, _ = start(app, answer_after=2 * HOUR)
    app.run_due_jobs()
    app.clock.advance(HOUR)
    app.run_due_jobs()
    assert api.get_workflow_state(workflow_id) == "completed"
    check = check_of(app, workflow_id)
    assert (check.status, check.outcome) == ("timed out", None)


def test_an_answer_arriving_after_the_timeout_is_dropped(app):
    api, workflow_id, verify, _ = start(app, answer_after=2 * HOUR)
    app.run_due_jobs()
    request_id = check_of(app, workflow_id).request_id
    app.clock.advance(HOUR)
    app.run_due_jobs()
    assert api.get_work_item_state(verify.id) == "canceled"

    # A fetch already in flight when the branch was canceled calls back too late.
    fetch = app.registry.resolve(FETCH).fn
    app.run_action(fetch, internal=True, work_item_id=verify.id, request_id=request_id)
    assert api.get_work_item_state(verify.id) == "canceled"
    assert check_of(app, workflow_id).outcome is None


@pytest.mark.timeout(30)
def test_main_runs(tmp_path, capsys):
    timeout_cancellation.main(tmp_path, timeout=0.6, fast_answer=0.1, slow_answer=1.5)
    out = capsys.readouterr().out
    ada = out.split("ada: ", 1)[1].split("bob: ", 1)[0]
    bob = out.split("bob: ", 1)[1]
    assert "verify completed (item completed), timer canceled (item canceled)" in ada
    assert "internal_complete_work_item canceled" in ada
    assert "verify canceled (item canceled), timer completed (item completed)" in bob
    assert "fetch_result canceled" in bob
    assert "internal_complete_work_item success" in bob
