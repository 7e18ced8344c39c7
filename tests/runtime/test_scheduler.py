"""`ctx.scheduler` inside mutations: jobs are rows written in the caller's transaction."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta, timezone

import pydantic
import pytest
import sqlalchemy as sa

import tasquencer as tq
from tasquencer.store.tables import job_runs

HOUR = 3600
HELPER_IDS = itertools.count()  # unique names for helper mutations


@pytest.fixture
def ran(app):
    """Registers `noop` and `other` on the app; returns the kwargs they ran with."""
    calls: list[dict] = []

    @app.mutation(name="jobs.noop")
    def noop(ctx, **kwargs):
        calls.append(kwargs)

    @app.mutation(name="jobs.other")
    def other(ctx, **kwargs):
        calls.append({"other": True, **kwargs})

    app.noop = noop
    app.other = other
    return calls


def schedule(app, delay=0, function=None, **kwargs):
    """Schedule one job from a mutation of its own; returns the job id."""

    @app.mutation(name=f"jobs.schedule.{next(HELPER_IDS)}")
    def scheduling(ctx):
        return ctx.scheduler.run_after(delay, function or app.noop, **kwargs)

    return app.run_mutation(scheduling)


# --- jobs exist only if the mutation commits --------------------------------------------------


def test_a_job_scheduled_in_a_committed_mutation_is_a_pending_row(app, ran):
    job_id = schedule(app, 5, x=1)
    job = app.get_job(job_id)
    assert job is not None
    assert job.id == job_id
    assert job.state == "pending"
    assert job.args == {"x": 1}
    assert ran == []


def test_a_mutation_that_raises_after_scheduling_leaves_no_job(app, ran):
    scheduled: list[str] = []

    @app.mutation
    def schedule_then_fail(ctx):
        scheduled.append(ctx.scheduler.run_after(0, app.noop, x=1))
        scheduled.append(ctx.scheduler.run_at(ctx.now() + timedelta(hours=1), app.noop, x=2))
        raise RuntimeError("changed my mind")

    with pytest.raises(RuntimeError, match="changed my mind"):
        app.run_mutation(schedule_then_fail)
    assert len(scheduled) == 2
    assert all(app.get_job(job_id) is None for job_id in scheduled)
    assert app.list_jobs() == []
    app.clock.advance(2 * HOUR)
    assert app.run_due_jobs() == 0
    assert ran == []


def test_a_job_scheduled_by_an_activity_whose_call_fails_does_not_exist(app, ran):
    scheduled: list[str] = []

    def on_enabled(ctx):
        scheduled.append(ctx.scheduler.run_after(0, app.noop))
        raise ValueError("activity failed")

    wf = (
        tq.Builder.workflow("wf")
        .start_condition("start")
        .end_condition("end")
        .task("t", tq.Builder.task("w").with_activities(on_enabled=on_enabled))
        .connect_condition("start", lambda to: to.task("t"))
        .connect_task("t", lambda to: to.condition("end"))
    )
    api = app.register(tq.versions("wf").version("v1", wf)).api("v1")
    with pytest.raises(ValueError, match="activity failed"):
        api.internal_initialize_root_workflow()
    assert len(scheduled) == 1
    assert app.get_job(scheduled[0]) is None
    assert api.list_workflows() == []


def test_scheduling_reads_its_own_writes_within_the_transaction(app, ran):
    @app.mutation
    def schedule_and_read(ctx):
        job_id = ctx.scheduler.run_after(10, app.noop, x=1)
        return ctx.scheduler.get(job_id)

    job = app.run_mutation(schedule_and_read)
    assert job is not None and job.state == "pending"


# --- arguments --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [object(), {1, 2}, datetime(2030, 1, 1, tzinfo=UTC), b"bytes", float("nan"), float("inf")],
    ids=["object", "set", "datetime", "bytes", "nan", "inf"],
)
def test_a_non_json_argument_is_rejected_when_scheduling_and_nothing_is_written(app, ran, bad):
    outcome: dict[str, BaseException] = {}

    @app.mutation
    def schedule_bad(ctx):
        try:
            ctx.scheduler.run_after(0, app.noop, good=1, bad=bad)
        except tq.SerializationError as error:
            outcome["error"] = error
        # the mutation goes on and commits: still no job
        return ctx.scheduler.run_after(0, app.other)

    other_id = app.run_mutation(schedule_bad)
    assert isinstance(outcome.get("error"), tq.SerializationError)
    assert "jobs.noop" in str(outcome["error"])
    assert [job.id for job in app.list_jobs()] == [other_id]


def test_a_non_json_argument_rolls_the_mutation_back_when_not_caught(app, ran):
    @app.mutation
    def schedule_bad(ctx):
        ctx.scheduler.run_after(0, app.other)
        ctx.scheduler.run_after(0, app.noop, bad=object())

    with pytest.raises(tq.SerializationError):
        app.run_mutation(schedule_bad)
    assert app.list_jobs() == []


def test_json_arguments_are_stored_and_passed_back_as_json_values(app, ran):
    class Model(pydantic.BaseModel):
        name: str
        when: datetime

    @dataclasses.dataclass
    class Point:
        x: int
        y: int

    job_id = schedule(
        app,
        0,
        text="é ✓",
        number=1.5,
        flag=True,
        nothing=None,
        items=(1, 2),
        nested={"a": [1, {"b": None}]},
        point=Point(1, 2),
        model=Model(name="m", when=datetime(2030, 1, 2, tzinfo=UTC)),
    )
    expected = {
        "text": "é ✓",
        "number": 1.5,
        "flag": True,
        "nothing": None,
        "items": [1, 2],
        "nested": {"a": [1, {"b": None}]},
        "point": {"x": 1, "y": 2},
        "model": {"name": "m", "when": "2030-01-02T00:00:00Z"},
    }
    assert app.get_job(job_id).args == expected
    assert app.run_due_jobs() == 1
    assert ran == [expected]


def test_scheduled_functions_take_keyword_arguments_only(app, ran):
    @app.mutation
    def positional(ctx):
        ctx.scheduler.run_after(0, app.noop, 1)

    with pytest.raises(TypeError):
        app.run_mutation(positional)
    assert app.list_jobs() == []


# --- what can be scheduled, and when ----------------------------------------------------------


def test_scheduling_an_unregistered_function_raises(app, ran):
    def not_registered(ctx):
        pass

    @app.mutation
    def schedule_it(ctx):
        ctx.scheduler.run_after(0, not_registered)

    with pytest.raises(tq.FunctionNotRegisteredError, match="not_registered"):
        app.run_mutation(schedule_it)

    @app.mutation
    def schedule_by_unknown_name(ctx):
        ctx.scheduler.run_after(0, "no.such.function")

    with pytest.raises(tq.FunctionNotRegisteredError):
        app.run_mutation(schedule_by_unknown_name)
    assert app.list_jobs() == []


def test_a_function_registered_with_another_app_is_not_registered_here(app, ran):
    other = tq.App(app.url)  # the same database: registrations still belong to each app
    try:

        @other.mutation
        def elsewhere(ctx):
            pass

        @app.mutation
        def schedule_it(ctx):
            ctx.scheduler.run_after(0, elsewhere)

        with pytest.raises(tq.FunctionNotRegisteredError):
            app.run_mutation(schedule_it)
    finally:
        other.close()


def test_a_registered_function_can_be_scheduled_by_name(app, ran):
    job_id = schedule(app, 0, "jobs.noop", x=3)
    assert app.get_job(job_id).function == "jobs.noop"
    app.run_due_jobs()
    assert ran == [{"x": 3}]


@pytest.mark.parametrize(
    "delay",
    [-1, -0.001, timedelta(seconds=-1), float("nan"), float("inf"), 1e15],
    ids=["-1", "-0.001", "-timedelta", "nan", "inf", "1e15"],
)
def test_a_negative_or_unusable_delay_is_a_value_error(app, ran, delay):
    with pytest.raises(ValueError):
        schedule(app, delay)
    assert app.list_jobs() == []


def test_run_at_needs_a_timezone_aware_datetime(app, ran):
    @app.mutation
    def naive(ctx):
        ctx.scheduler.run_at(datetime(2030, 1, 1, 12), app.noop)

    with pytest.raises(ValueError):
        app.run_mutation(naive)
    assert app.list_jobs() == []


def test_run_after_accepts_seconds_and_timedeltas(app, ran):
    now = app.clock.now()
    a = schedule(app, 90)
    b = schedule(app, timedelta(minutes=2))
    c = schedule(app, 0.25)
    assert app.get_job(a).run_at == now + timedelta(seconds=90)
    assert app.get_job(b).run_at == now + timedelta(minutes=2)
    assert app.get_job(c).run_at == now + timedelta(seconds=0.25)


def test_run_at_keeps_the_instant_whatever_the_timezone(app, ran):
    when = datetime(2030, 1, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))

    @app.mutation
    def at(ctx):
        return ctx.scheduler.run_at(when, app.noop)

    job = app.get_job(app.run_mutation(at))
    assert job.run_at == when
    assert job.run_at.utcoffset() == timedelta(0)
    assert job.run_at == datetime(2030, 1, 1, 12, 30, tzinfo=UTC)


def test_a_job_runs_once_its_run_at_is_reached_and_not_before(app, ran):
    @app.mutation
    def at(ctx):
        return ctx.scheduler.run_at(ctx.now() + timedelta(minutes=1), app.noop, x=1)

    job_id = app.run_mutation(at)
    app.clock.advance(59.999)
    assert app.run_due_jobs() == 0
    assert app.get_job(job_id).state == "pending"
    app.clock.advance(0.001)
    assert app.run_due_jobs() == 1
    assert app.get_job(job_id).state == "success"
    assert ran == [{"x": 1}]


def test_a_run_at_in_the_past_is_due_at_once(app, ran):
    @app.mutation
    def past(ctx):
        return ctx.scheduler.run_at(ctx.now() - timedelta(days=1), app.noop)

    job_id = app.run_mutation(past)
    assert app.run_due_jobs() == 1
    assert app.get_job(job_id).state == "success"


# --- cancel and get ---------------------------------------------------------------------------


def cancel(app, job_id):
    @app.mutation(name=f"jobs.cancel.{next(HELPER_IDS)}")
    def canceling(ctx):
        ctx.scheduler.cancel(job_id)

    app.run_mutation(canceling)


def test_a_canceled_pending_job_never_runs(app, ran):
    job_id = schedule(app, 10, x=1)
    kept = schedule(app, 10, x=2)
    cancel(app, job_id)
    job = app.get_job(job_id)
    assert job.state == "canceled"
    assert job.finished_at == app.clock.now()
    app.clock.advance(HOUR)
    assert app.run_due_jobs() == 1
    assert ran == [{"x": 2}]
    assert app.get_job(job_id).state == "canceled"
    assert app.get_job(kept).state == "success"


def test_a_job_due_now_can_be_canceled_before_a_worker_takes_it(app, ran):
    job_id = schedule(app, 0)
    cancel(app, job_id)
    assert app.run_due_jobs() == 0
    assert ran == []


def test_canceling_twice_is_harmless(app, ran):
    job_id = schedule(app, 10)
    cancel(app, job_id)
    first = app.get_job(job_id)
    app.clock.advance(1)
    cancel(app, job_id)
    assert app.get_job(job_id) == first


def test_canceling_a_finished_job_changes_nothing(app, ran):
    job_id = schedule(app, 0)
    app.run_due_jobs()
    done = app.get_job(job_id)
    assert done.state == "success"
    cancel(app, job_id)
    assert app.get_job(job_id) == done


def test_canceling_an_unknown_job_raises(app, ran):
    with pytest.raises(tq.JobNotFoundError, match="nope"):
        cancel(app, "nope")


def test_a_cancel_rolled_back_with_its_mutation_leaves_the_job_pending(app, ran):
    job_id = schedule(app, 10)

    @app.mutation
    def cancel_then_fail(ctx):
        ctx.scheduler.cancel(job_id)
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        app.run_mutation(cancel_then_fail)
    assert app.get_job(job_id).state == "pending"


def test_a_job_scheduled_and_canceled_in_the_same_mutation_never_runs(app, ran):
    @app.mutation
    def schedule_and_cancel(ctx):
        job_id = ctx.scheduler.run_after(0, app.noop)
        ctx.scheduler.cancel(job_id)
        return job_id

    job_id = app.run_mutation(schedule_and_cancel)
    assert app.get_job(job_id).state == "canceled"
    assert app.run_due_jobs() == 0


def test_get_of_an_unknown_job_is_none(app, ran):
    @app.mutation
    def get(ctx):
        return ctx.scheduler.get("nope")

    assert app.run_mutation(get) is None
    assert app.get_job("nope") is None


# --- job records ------------------------------------------------------------------------------


def test_a_job_record_has_every_field(app, ran):
    created = app.clock.now()
    job_id = schedule(app, 30, x=1)
    job = app.get_job(job_id)
    expected = {
        "id": job_id,
        "function": "jobs.noop",
        "args": {"x": 1},
        "state": "pending",
        "run_at": created + timedelta(seconds=30),
        "attempts": 0,
        "error": None,
        "created_at": created,
        "started_at": None,
        "finished_at": None,
    }
    record = dataclasses.asdict(job)
    assert {name: record[name] for name in expected} == expected
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.state = "success"

    app.clock.advance(45)
    app.run_due_jobs()
    done = app.get_job(job_id)
    ran_at = created + timedelta(seconds=45)
    assert done.state == "success"
    assert done.attempts == 1
    assert done.error is None
    assert done.started_at == ran_at
    assert done.finished_at == ran_at
    assert done.created_at == created
    assert done.run_at == created + timedelta(seconds=30)
    for stamp in (done.run_at, done.created_at, done.started_at, done.finished_at):
        assert stamp.tzinfo is not None and stamp.utcoffset() == timedelta(0)


def test_the_function_name_of_a_decorated_function_is_module_and_qualname(app):
    @app.mutation
    def named(ctx):
        pass

    @app.mutation
    def scheduling(ctx):
        return ctx.scheduler.run_after(0, named)

    job = app.get_job(app.run_mutation(scheduling))
    assert job.function == f"{named.__module__}.{named.__qualname__}"


def test_ids_of_jobs_are_distinct_and_increasing(app, ran):
    @app.mutation
    def many(ctx):
        return [ctx.scheduler.run_after(0, app.noop, i=i) for i in range(50)]

    ids = app.run_mutation(many)
    assert len(set(ids)) == 50
    assert ids == sorted(ids)


def test_scheduler_get_and_app_get_job_and_list_jobs_agree(app, ran):
    job_id = schedule(app, 10, x=1)
    done_id = schedule(app, 0, x=2)
    app.run_due_jobs()

    @app.mutation
    def get(ctx, job_id):
        return ctx.scheduler.get(job_id)

    for jid in (job_id, done_id):
        listed = {job.id: job for job in app.list_jobs()}[jid]
        assert app.run_mutation(get, job_id=jid) == app.get_job(jid) == listed


def test_list_jobs_filters_by_state_and_function_most_recent_first(app, ran):
    a = schedule(app, 0)
    b = schedule(app, 0, app.other)
    c = schedule(app, 10)
    d = schedule(app, 10, app.other)
    cancel(app, d)
    app.run_due_jobs()

    assert [j.id for j in app.list_jobs()] == [d, c, b, a]
    assert [j.id for j in app.list_jobs(state="success")] == [b, a]
    assert [j.id for j in app.list_jobs(state="pending")] == [c]
    assert [j.id for j in app.list_jobs(state="canceled")] == [d]
    assert app.list_jobs(state="failed") == []
    assert [j.id for j in app.list_jobs(function="jobs.other")] == [d, b]
    assert [j.id for j in app.list_jobs(function="jobs.noop", state="success")] == [a]
    assert app.list_jobs(function="jobs.unknown") == []
    assert [j.id for j in app.list_jobs(limit=2)] == [d, c]


# --- retention --------------------------------------------------------------------------------


def _rows(app, table):
    with app.engine.connect() as connection:
        return set(connection.scalars(sa.select(table.c[0])))


def test_prune_jobs_deletes_finished_jobs_older_than_the_cutoff_with_their_run_records(app, ran):
    @app.mutation(name="jobs.boom")
    def boom(ctx):
        raise RuntimeError("boom")

    old_success = schedule(app, 0, x=1)
    old_failed = schedule(app, 0, boom)
    old_canceled = schedule(app, 0, x=2)
    schedule_cancel = app.mutation(name="jobs.cancel")(
        lambda ctx, job_id: ctx.scheduler.cancel(job_id)
    )
    app.run_mutation(schedule_cancel, job_id=old_canceled)
    assert app.run_due_jobs() == 2
    app.clock.advance(2 * HOUR)
    recent_success = schedule(app, 0, x=3)
    assert app.run_due_jobs() == 1
    pending = schedule(app, HOUR, x=4)
    assert _rows(app, job_runs) == {old_success, recent_success}

    assert app.prune_jobs(older_than=HOUR) == 3

    for job_id in (old_success, old_failed, old_canceled):
        assert app.get_job(job_id) is None
    assert app.get_job(recent_success).state == "success"
    assert app.get_job(pending).state == "pending"
    assert _rows(app, job_runs) == {recent_success}
    assert app.prune_jobs(older_than=timedelta(hours=1)) == 0
    app.clock.advance(2 * HOUR)
    assert app.run_due_jobs() == 1
    assert app.prune_jobs(older_than=0) == 2
    assert app.list_jobs() == []
    assert _rows(app, job_runs) == set()


def test_an_element_whose_tied_job_was_pruned_still_tears_down(app, ran):
    """Tied jobs are listed on their element's row: one pruned while the element lives is
    simply not found when the element's teardown cancels the others."""

    def initialize(ctx, payload):
        ctx.work_item.initialize()
        ctx.register_scheduled(ctx.scheduler.run_after(0, app.noop, x=1))
        ctx.register_scheduled(ctx.scheduler.run_after(HOUR, app.noop, x=2))

    item = tq.Builder.work_item("item").with_actions(
        tq.Builder.work_item_actions().initialize(None, initialize)
    )
    api = app.register(
        tq.versions("prune_tied").version(
            "v1",
            tq.Builder.workflow("prune_tied")
            .start_condition("start")
            .end_condition("end")
            .task(
                "a",
                tq.Builder.task(item).with_activities(
                    on_enabled=lambda ctx: ctx.work_item.initialize()
                ),
            )
            .connect_condition("start", lambda to: to.task("a"))
            .connect_task("a", lambda to: to.condition("end")),
        )
    ).api("v1")
    workflow_id = api.internal_initialize_root_workflow()
    (work_item,) = api.list_work_items(workflow_id)
    assert app.run_due_jobs() == 1
    assert app.prune_jobs(older_than=0) == 1
    (later,) = app.list_jobs()
    api.internal_cancel_work_item(work_item.id)
    assert app.get_job(later.id).state == "canceled"
    assert ran == [{"x": 1}]


@pytest.mark.parametrize("bad", [-1, timedelta(seconds=-1), float("nan"), float("inf"), "7d", True])
def test_prune_jobs_refuses_a_bad_age_and_deletes_nothing(app, ran, bad):
    job_id = schedule(app, 0, x=1)
    assert app.run_due_jobs() == 1
    with pytest.raises((ValueError, TypeError), match="older_than"):
        app.prune_jobs(older_than=bad)
    assert app.get_job(job_id).state == "success"
