"""Registered functions, workers and jobs: how mutations, queries and actions are called,
scheduled and run, retried, canceled and recovered, and how jobs tie to engine elements."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import orm

import tasquencer as tq
from tasquencer import Builder
from tasquencer.runtime.worker import WORKER_LOST, Worker
from tasquencer.store.tables import jobs
from tests.helpers import auto_task, wait_for

HOUR = 3600
HELPER_IDS = itertools.count()  # unique names for helper mutations


class Notes:
    """A domain table written by mutations (`ctx.db`), to see what committed."""

    def __init__(self, app: tq.App) -> None:
        self.app = app
        table = sa.Table(
            "notes",
            sa.MetaData(),
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("text", sa.Text, nullable=False),
        )
        table.metadata.create_all(app.engine)

        @app.mutation(name="notes.add")
        def add(ctx, text):
            ctx.db.execute(sa.text("INSERT INTO notes (text) VALUES (:text)"), {"text": text})
            return text

        @app.query(name="notes.all")
        def all_notes(ctx):
            return [row[0] for row in ctx.db.execute(sa.text("SELECT text FROM notes ORDER BY id"))]

        self.add = add
        self.all = all_notes

    def texts(self) -> list[str]:
        return self.app.run_query(self.all)


@pytest.fixture
def notes(app) -> Notes:
    return Notes(app)


@pytest.fixture
def real_app(database_url) -> Iterator[tq.App]:
    """An app with the real clock on an empty database."""
    app = tq.App(database_url)
    yield app
    app.close()


def schedule(app, delay, function, **kwargs) -> str:
    """Schedule one job from a mutation of its own; returns the job id."""

    @app.mutation(name=f"tests.schedule.{next(HELPER_IDS)}")
    def scheduling(ctx):
        return ctx.scheduler.run_after(delay, function, **kwargs)

    return app.run_mutation(scheduling)


# =============================================================================================
# registering and calling functions
# =============================================================================================


def test_decorators_register_and_return_the_function_unchanged(app):
    @app.mutation
    def m(ctx, x):
        return x + 1

    @app.mutation(internal=True, name="custom.m")
    def m_internal(ctx):
        return "m"

    @app.query
    def q(ctx, x):
        return x * 2

    @app.query(internal=True)
    def q_internal(ctx):
        return "q"

    @app.action
    def a(ctx, x):
        return x

    @app.action(internal=True, retry=tq.Retry(attempts=2))
    async def a_async(ctx, x):
        return x

    assert m(None, x=1) == 2  # a plain function still
    expected = {
        m: ("mutation", False, f"{__name__}.{m.__qualname__}"),
        m_internal: ("mutation", True, "custom.m"),
        q: ("query", False, f"{__name__}.{q.__qualname__}"),
        q_internal: ("query", True, f"{__name__}.{q_internal.__qualname__}"),
        a: ("action", False, f"{__name__}.{a.__qualname__}"),
        a_async: ("action", True, f"{__name__}.{a_async.__qualname__}"),
    }
    for function, (kind, internal, name) in expected.items():
        definition = app.registry.resolve(function)
        assert (definition.kind, definition.internal, definition.name) == (kind, internal, name)
        assert app.registry.resolve(name) is definition
    assert app.registry.resolve(a_async).retry == tq.Retry(attempts=2)


def test_internal_functions_run_from_server_code_that_says_so_and_from_jobs(app):
    @app.mutation(internal=True)
    def m(ctx, x):
        return (x, ctx.is_internal)

    @app.query(internal=True)
    def q(ctx):
        return ("q", ctx.is_internal)

    @app.action(internal=True)
    def a(ctx):
        return (ctx.is_internal, ctx.run_mutation(m, x="from action"))

    assert app.run_mutation(m, x=1, internal=True) == (1, True)
    assert app.run_query(q, internal=True) == ("q", True)
    assert app.run_action(a, internal=True) == (True, ("from action", True))
    job_id = schedule(app, 0, m, x=2)
    action_job = schedule(app, 0, a)
    assert app.run_due_jobs() == 2
    assert app.get_job(job_id).state == app.get_job(action_job).state == "success"


def test_an_external_call_of_an_internal_function_is_refused_and_changes_nothing(app):
    writes = []

    @app.mutation(internal=True)
    def m(ctx):
        writes.append("m")

    @app.query(internal=True)
    def q(ctx):
        writes.append("q")

    @app.action(internal=True)
    def a(ctx):
        writes.append("a")

    for run, function in ((app.run_mutation, m), (app.run_query, q), (app.run_action, a)):
        with pytest.raises(tq.NotInternalMutationError, match="internal=True"):
            run(function)
    assert writes == []


def test_ctx_is_internal_tells_the_truth_in_registered_functions(app):
    @app.mutation
    def m(ctx):
        return ctx.is_internal

    @app.action
    def a(ctx):
        return (ctx.is_internal, ctx.run_mutation(m))

    assert app.run_mutation(m) is False
    assert app.run_mutation(m, internal=True) is True
    assert app.run_action(a) == (False, True)
    job_id = schedule(app, 0, m)
    app.run_due_jobs()
    assert app.get_job(job_id).state == "success"


@pytest.mark.parametrize("decorator", ["mutation", "query"])
@pytest.mark.parametrize("called", [False, True], ids=["bare", "with-options"])
def test_a_mutation_or_query_cannot_be_async(app, decorator, called):
    async def fn(ctx):
        return None

    register = getattr(app, decorator)
    with pytest.raises(TypeError, match="async"):
        register(internal=True)(fn) if called else register(fn)
    with pytest.raises(tq.FunctionNotRegisteredError):
        app.registry.resolve(fn)


def test_an_action_may_be_async_or_not(app):
    @app.action
    def sync_action(ctx):
        return "sync"

    @app.action
    async def async_action(ctx):
        await asyncio.sleep(0)
        return "async"

    assert app.run_action(sync_action) == "sync"
    assert app.run_action(async_action) == "async"
    assert asyncio.run(app.run_action_async(sync_action)) == "sync"
    assert asyncio.run(app.run_action_async(async_action)) == "async"


def test_registering_something_that_is_not_a_function_is_a_type_error(app):
    with pytest.raises(TypeError):
        app.mutation(42)


def test_two_functions_cannot_share_a_name(app):
    @app.mutation(name="shared")
    def first(ctx):
        pass

    with pytest.raises(ValueError, match="shared"):

        @app.mutation(name="shared")
        def second(ctx):
            pass

    assert app.registry.resolve("shared").fn is first


def test_run_mutation_commits_and_returns_the_result(app, notes):
    assert app.run_mutation(notes.add, text="one") == "one"
    assert notes.texts() == ["one"]


def test_run_mutation_rolls_everything_back_when_the_mutation_raises(app, notes):
    class Oops(Exception):
        pass

    @app.mutation
    def write_then_fail(ctx):
        notes.add(ctx, text="lost")
        ctx.scheduler.run_after(0, notes.add, text="lost job")
        raise Oops("no")

    with pytest.raises(Oops):
        app.run_mutation(write_then_fail)
    assert notes.texts() == []
    assert app.list_jobs() == []


def test_a_query_reads_but_its_writes_are_not_kept(app, notes):
    app.run_mutation(notes.add, text="kept")

    @app.query
    def sneaky(ctx):
        ctx.db.execute(sa.text("INSERT INTO notes (text) VALUES ('sneaky')"))
        return "done"

    with contextlib.suppress(Exception):  # refusing the write is fine too
        app.run_query(sneaky)
    assert notes.texts() == ["kept"]


def test_a_query_cannot_schedule_jobs(app, notes):
    @app.query
    def schedules(ctx):
        ctx.scheduler.run_after(0, notes.add, text="from a query")

    with pytest.raises(Exception):  # noqa: B017 - no scheduler, whatever the error type
        app.run_query(schedules)
    assert app.list_jobs() == []


def test_calls_check_the_kind_of_function(app, notes):
    @app.action
    def act(ctx):
        pass

    with pytest.raises(TypeError, match="mutation"):
        app.run_query(notes.add, text="x")
    with pytest.raises(TypeError, match="query"):
        app.run_mutation(notes.all)
    with pytest.raises(TypeError, match="action"):
        app.run_mutation(act)
    with pytest.raises(TypeError):
        app.run_action(notes.add, text="x")
    assert notes.texts() == []


def test_calling_an_unregistered_function_raises(app):
    def stray(ctx):
        pass

    for run in (app.run_mutation, app.run_query, app.run_action):
        with pytest.raises(tq.FunctionNotRegisteredError):
            run(stray)


def test_functions_are_called_with_keyword_arguments_only(app, notes):
    with pytest.raises(TypeError):
        app.run_mutation(notes.add, "positional")
    assert notes.texts() == []


def test_async_callers_await_mutations_queries_and_actions(app, notes):
    @app.action
    async def act(ctx, text):
        return await ctx.run_mutation(notes.add, text=text)

    async def main():
        await app.run_mutation_async(notes.add, text="a")
        await app.run_action_async(act, text="b")
        return await app.run_query_async(notes.all)

    assert asyncio.run(main()) == ["a", "b"]


def test_concurrent_async_mutations_all_commit(app):
    with app.engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        connection.execute(sa.text("INSERT INTO counter VALUES (0)"))

    @app.mutation
    def increment(ctx):
        (n,) = ctx.db.execute(sa.text("SELECT n FROM counter")).one()
        ctx.db.execute(sa.text("UPDATE counter SET n = :n"), {"n": n + 1})

    async def main():
        await asyncio.gather(*(app.run_mutation_async(increment) for _ in range(20)))

    asyncio.run(main())
    with app.engine.connect() as connection:
        connection.info["tasquencer_read_only"] = True
        assert connection.execute(sa.text("SELECT n FROM counter")).scalar() == 20


# --- inside actions ---------------------------------------------------------------------------


def test_a_sync_action_gets_results_from_its_ctx(app, notes):
    @app.action
    def inner_sync(ctx, x):
        return f"inner {x}"

    @app.action
    async def inner_async(ctx, x):
        return f"inner async {x}"

    @app.action
    def outer(ctx):
        written = ctx.run_mutation(notes.add, text="from action")
        read = ctx.run_query(notes.all)
        return written, read, ctx.run_action(inner_sync, x=1), ctx.run_action(inner_async, x=2)

    expected = ("from action", ["from action"], "inner 1", "inner async 2")
    assert app.run_action(outer) == expected
    job_id = schedule(app, 0, outer)
    app.run_due_jobs()
    assert app.get_job(job_id).state == "success"
    assert notes.texts() == ["from action", "from action"]


def test_an_async_action_awaits_its_ctx(app, notes):
    @app.action
    def inner_sync(ctx, x):
        return f"inner {x}"

    @app.action
    async def inner_async(ctx, x):
        return f"inner async {x}"

    @app.action
    async def outer(ctx):
        written = await ctx.run_mutation(notes.add, text="from async action")
        read = await ctx.run_query(notes.all)
        return (
            written,
            read,
            await ctx.run_action(inner_sync, x=1),
            await ctx.run_action(inner_async, x=2),
        )

    expected = ("from async action", ["from async action"], "inner 1", "inner async 2")
    assert app.run_action(outer) == expected
    job_id = schedule(app, 0, outer)
    app.run_due_jobs()
    assert app.get_job(job_id).state == "success"
    assert notes.texts() == ["from async action"] * 2


def test_an_action_ctx_knows_its_job_attempt_and_the_app_clock(app):
    seen: list[tuple] = []

    @app.action
    def act(ctx):
        seen.append((ctx.job_id, ctx.attempt, ctx.now()))

    app.run_action(act)
    app.clock.advance(5)
    job_id = schedule(app, 0, act)
    app.run_due_jobs()
    assert seen[0][0] is None
    assert seen[1] == (job_id, 1, app.clock.now())


def test_an_action_runs_outside_any_transaction(app, notes):
    @app.action
    def act(ctx):
        assert not hasattr(ctx, "db")
        # every call commits on its own: a mutation's effects are visible at once
        ctx.run_mutation(notes.add, text="first")
        assert ctx.run_query(notes.all) == ["first"]
        job_id = ctx.scheduler.run_after(HOUR, notes.add, text="later")
        assert app.get_job(job_id).state == "pending"
        raise RuntimeError("the action fails afterwards")

    job_id = schedule(app, 0, act)
    app.run_due_jobs()
    assert app.get_job(job_id).state == "failed"
    assert notes.texts() == ["first"]  # not rolled back by the action's failure
    assert [j.state for j in app.list_jobs(function="notes.add")] == ["pending"]


# =============================================================================================
# run_due_jobs
# =============================================================================================


@pytest.fixture
def order(app) -> tuple[list[str], Any]:
    ran: list[str] = []

    @app.mutation(name="order.record")
    def record(ctx, label, then=None, delay=0):
        ran.append(label)
        if then:
            ctx.scheduler.run_after(delay, record, label=then)

    return ran, record


def test_due_jobs_run_in_run_at_order_then_creation_order(app, order):
    ran, record = order

    @app.mutation
    def many(ctx):
        ctx.scheduler.run_after(3, record, label="c")
        ctx.scheduler.run_after(1, record, label="a1")
        ctx.scheduler.run_after(2, record, label="b1")
        ctx.scheduler.run_after(1, record, label="a2")
        ctx.scheduler.run_after(2, record, label="b2")

    app.run_mutation(many)
    app.clock.advance(5)
    assert app.run_due_jobs() == 5
    assert ran == ["a1", "a2", "b1", "b2", "c"]


def test_jobs_scheduled_for_now_by_running_jobs_run_in_the_same_call(app, order):
    ran, record = order

    @app.mutation
    def start_chain(ctx):
        ctx.scheduler.run_after(0, record, label="first", then="second")

    app.run_mutation(start_chain)
    assert app.run_due_jobs() == 2
    assert ran == ["first", "second"]


def test_a_job_scheduled_for_now_runs_after_jobs_due_earlier(app, order):
    ran, record = order

    @app.mutation
    def setup(ctx):
        ctx.scheduler.run_after(1, record, label="x", then="z")
        ctx.scheduler.run_after(2, record, label="y")

    app.run_mutation(setup)
    app.clock.advance(3)
    assert app.run_due_jobs() == 3
    assert ran == ["x", "y", "z"]


def test_nothing_runs_before_it_is_due(app, order):
    ran, record = order

    @app.mutation
    def setup(ctx):
        ctx.scheduler.run_after(0, record, label="now", then="later", delay=10)
        ctx.scheduler.run_after(5, record, label="in five")

    app.run_mutation(setup)
    assert app.run_due_jobs() == 1
    assert ran == ["now"]
    assert app.run_due_jobs() == 0
    app.clock.advance(4.999)
    assert app.run_due_jobs() == 0
    app.clock.advance(0.001)
    assert app.run_due_jobs() == 1
    assert ran == ["now", "in five"]
    app.clock.advance(5)
    assert app.run_due_jobs() == 1
    assert ran == ["now", "in five", "later"]
    assert {j.state for j in app.list_jobs()} == {"success"}


def test_run_due_jobs_closes_the_event_loop_it_opens_for_async_actions(app):
    @app.action
    async def act(ctx):
        await asyncio.sleep(0)

    schedule(app, 0, act)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        assert app.run_due_jobs() == 1
        gc.collect()
    leaks = [str(w.message) for w in caught if "unclosed event loop" in str(w.message)]
    assert leaks == []


def test_run_due_jobs_stops_a_job_that_reschedules_itself_without_delay(app):
    @app.mutation
    def again(ctx):
        ctx.scheduler.run_after(0, again)

    schedule(app, 0, again)
    with pytest.raises(RuntimeError, match="rescheduling itself"):
        app.run_due_jobs(max_jobs=20)


def test_jobs_survive_the_app_and_unknown_functions_fail(database_url):
    first = tq.App(database_url)

    @first.mutation(name="shared.known")
    def known(ctx, x):
        pass

    @first.mutation(name="shared.forgotten")
    def forgotten(ctx):
        pass

    known_id = schedule(first, 0, known, x=1)
    forgotten_id = schedule(first, 0, forgotten)
    first.close()

    second = tq.App(database_url)
    try:
        ran: list[int] = []

        @second.mutation(name="shared.known")
        def known_again(ctx, x):
            ran.append(x)

        assert second.run_due_jobs() == 2
        assert ran == [1]
        assert second.get_job(known_id).state == "success"
        lost = second.get_job(forgotten_id)
        assert lost.state == "failed"
        assert "shared.forgotten" in lost.error and "not registered" in lost.error
    finally:
        second.close()


# =============================================================================================
# failures and retries
# =============================================================================================


def test_a_scheduled_mutation_commits_its_domain_writes(app, notes):
    job_id = schedule(app, 0, notes.add, text="written by a job")
    assert app.run_due_jobs() == 1
    assert app.get_job(job_id).state == "success"
    assert notes.texts() == ["written by a job"]


def test_a_scheduled_mutation_that_raises_is_rolled_back_and_failed(app):
    ran: list[str] = []

    @app.mutation
    def record(ctx, text):
        ran.append(text)

    @app.mutation
    def broken(ctx):
        ctx.scheduler.run_after(0, record, text="never scheduled")
        raise ValueError("bad input 42")

    job_id = schedule(app, 0, broken)
    after = schedule(app, 1, record, text="next job")
    app.clock.advance(1)
    assert app.run_due_jobs() == 2
    job = app.get_job(job_id)
    assert job.state == "failed"
    assert job.error == "ValueError: bad input 42"
    assert job.attempts == 1
    assert job.started_at == job.finished_at == app.clock.now()
    assert ran == ["next job"]
    assert app.get_job(after).state == "success"
    assert [j.id for j in app.list_jobs(function=app.registry.resolve(record).name)] == [after]


def test_a_scheduled_mutation_that_raises_after_domain_writes_is_rolled_back_and_failed(app, notes):
    @app.mutation
    def broken(ctx):
        notes.add(ctx, text="rolled back")
        raise ValueError("bad input 42")

    job_id = schedule(app, 0, broken)
    after = schedule(app, 1, notes.add, text="next")
    app.clock.advance(1)
    assert app.run_due_jobs() == 2
    job = app.get_job(job_id)
    assert job.state == "failed"
    assert job.error == "ValueError: bad input 42"
    assert app.get_job(after).state == "success"
    assert notes.texts() == ["next"]


class Base(orm.DeclarativeBase):
    pass


class Row(Base):
    __tablename__ = "orm_rows"
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    text: orm.Mapped[str]


@pytest.fixture
def rows(app):
    Base.metadata.create_all(app.engine)

    @app.mutation(name="rows.add")
    def add(ctx, id, text):
        ctx.db.add(Row(id=id, text=text))
        ctx.db.flush()

    @app.query(name="rows.all")
    def all_rows(ctx):
        return [(r.id, r.text) for r in ctx.db.scalars(sa.select(Row).order_by(Row.id))]

    return add, all_rows


def test_a_scheduled_mutation_whose_orm_flush_fails_is_failed(app, rows):
    add, all_rows = rows
    app.run_mutation(add, id=1, text="first")
    duplicate = schedule(app, 0, add, id=1, text="duplicate")
    fine = schedule(app, 0, add, id=2, text="second")
    assert app.run_due_jobs() == 2
    job = app.get_job(duplicate)
    assert job.state == "failed"
    assert "IntegrityError" in job.error
    assert app.get_job(fine).state == "success"
    assert app.run_query(all_rows) == [(1, "first"), (2, "second")]


def test_a_scheduled_mutation_that_rolls_ctx_db_back_and_carries_on_fails_without_blocking(
    app, rows
):
    """`try: flush() except IntegrityError: ctx.db.rollback()` is a common SQLAlchemy idiom.
    Inside a mutation it cannot keep the call's transaction; whatever the engine does about
    it, the job must end (not stay pending forever) and later jobs must still run."""
    add, all_rows = rows
    app.run_mutation(add, id=1, text="first")

    @app.mutation(name="rows.add_or_fallback")
    def add_or_fallback(ctx, id):
        try:
            ctx.db.add(Row(id=id, text="wanted"))
            ctx.db.flush()
        except sa.exc.IntegrityError:
            ctx.db.rollback()
            ctx.db.add(Row(id=id + 100, text="fallback"))
            ctx.db.flush()

    tricky = schedule(app, 0, add_or_fallback, id=1)
    later = schedule(app, 1, add, id=3, text="later")
    app.clock.advance(1)
    app.run_due_jobs()
    assert app.get_job(tricky).state in ("failed", "success")
    assert app.get_job(later).state == "success"
    assert (3, "later") in app.run_query(all_rows)


def test_a_scheduled_mutation_with_wrong_arguments_fails(app, notes):
    job_id = schedule(app, 0, notes.add, txt="typo")
    app.run_due_jobs()
    job = app.get_job(job_id)
    assert job.state == "failed"
    assert "TypeError" in job.error


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_a_scheduled_action_that_raises_fails_once(app, is_async):
    calls: list[int] = []

    if is_async:

        @app.action
        async def act(ctx):
            calls.append(ctx.attempt)
            raise RuntimeError("remote said no")

    else:

        @app.action
        def act(ctx):
            calls.append(ctx.attempt)
            raise RuntimeError("remote said no")

    job_id = schedule(app, 0, act)
    assert app.run_due_jobs() == 1
    job = app.get_job(job_id)
    assert job.state == "failed"
    assert "RuntimeError" in job.error and "remote said no" in job.error
    assert job.attempts == 1
    assert job.finished_at == app.clock.now()
    app.clock.advance(timedelta(days=1))
    assert app.run_due_jobs() == 0
    assert calls == [1]


@pytest.fixture
def flaky(app):
    calls: list[tuple[int, Any]] = []

    def make(retry: tq.Retry, fail_times: int, *, is_async: bool = False):
        if is_async:

            @app.action(retry=retry, name="flaky.async")
            async def act_async(ctx):
                calls.append((ctx.attempt, ctx.now()))
                if ctx.attempt <= fail_times:
                    raise RuntimeError(f"attempt {ctx.attempt} failed")
                return "ok"

            return act_async

        @app.action(retry=retry, name="flaky.sync")
        def act(ctx):
            calls.append((ctx.attempt, ctx.now()))
            if ctx.attempt <= fail_times:
                raise RuntimeError(f"attempt {ctx.attempt} failed")
            return "ok"

        return act

    make.calls = calls
    return make


def backoff_bounds(retry: tq.Retry, attempt: int) -> tuple[float, float]:
    """The delay after a failed `attempt`: exponential, capped, with jitter in [d/2, d]."""
    delay = min(retry.max_delay, retry.initial_delay * 2 ** (attempt - 1))
    return delay / 2, delay


def run_attempts_until_final(app, job_id, retry):
    """Run the job at each of its retry times; returns the records seen after each attempt."""
    seen = []
    while True:
        assert app.run_due_jobs() == 1
        job = app.get_job(job_id)
        seen.append(job)
        if job.state != "pending":
            return seen
        low, high = backoff_bounds(retry, job.attempts)
        now = app.clock.now()
        assert now + timedelta(seconds=low) <= job.run_at <= now + timedelta(seconds=high)
        assert job.finished_at is None
        # not before its time
        app.clock.set(job.run_at - timedelta(milliseconds=1))
        assert app.run_due_jobs() == 0
        app.clock.set(job.run_at)


def test_a_retrying_action_fails_after_its_last_attempt(app, flaky):
    retry = tq.Retry(attempts=3, initial_delay=1, max_delay=10)
    act = flaky(retry, fail_times=99)
    job_id = schedule(app, 0, act)
    seen = run_attempts_until_final(app, job_id, retry)
    assert [(j.state, j.attempts) for j in seen] == [
        ("pending", 1),
        ("pending", 2),
        ("failed", 3),
    ]
    assert [j.error for j in seen] == [
        "RuntimeError: attempt 1 failed",
        "RuntimeError: attempt 2 failed",
        "RuntimeError: attempt 3 failed",
    ]
    run_ats = [j.run_at for j in seen[:2]]
    assert run_ats[0] < run_ats[1]
    assert seen[-1].finished_at == app.clock.now()
    assert [attempt for attempt, _ in flaky.calls] == [1, 2, 3]
    app.clock.advance(timedelta(days=1))
    assert app.run_due_jobs() == 0


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_a_retrying_action_succeeds_on_a_later_attempt(app, flaky, is_async):
    retry = tq.Retry(attempts=3, initial_delay=1, max_delay=10)
    act = flaky(retry, fail_times=1, is_async=is_async)
    job_id = schedule(app, 0, act)
    seen = run_attempts_until_final(app, job_id, retry)
    assert [(j.state, j.attempts) for j in seen] == [("pending", 1), ("success", 2)]
    assert seen[-1].error is None
    assert [attempt for attempt, _ in flaky.calls] == [1, 2]


def test_retry_delays_grow_and_are_capped(app, flaky):
    retry = tq.Retry(attempts=7, initial_delay=1, max_delay=4)
    act = flaky(retry, fail_times=99)
    job_id = schedule(app, 0, act)
    seen = run_attempts_until_final(app, job_id, retry)
    assert [j.attempts for j in seen] == [1, 2, 3, 4, 5, 6, 7]
    assert seen[-1].state == "failed"
    times = [when for _, when in flaky.calls]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    for attempt, gap in enumerate(gaps, start=1):
        low, high = backoff_bounds(retry, attempt)
        assert low <= gap <= high, (attempt, gap)
    assert all(later > earlier for earlier, later in itertools.pairwise(times))
    assert max(gaps) <= 4


def test_retry_policies_are_checked():
    with pytest.raises(ValueError):
        tq.Retry(attempts=0)
    with pytest.raises(ValueError):
        tq.Retry(initial_delay=10, max_delay=1)
    with pytest.raises(ValueError):
        tq.Retry(initial_delay=-1)


# =============================================================================================
# canceling a running action
# =============================================================================================


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_an_action_canceled_while_it_runs_finishes_stays_canceled_and_schedules_nothing(
    app, is_async
):
    seen: dict[str, Any] = {}
    ran: list[str] = []

    @app.mutation
    def record(ctx, text):
        ran.append(text)

    def before(ctx):
        seen["before"] = ctx.scheduler.run_after(0, record, text="scheduled before cancel")
        ctx.scheduler.cancel(ctx.job_id)
        seen["state"] = ctx.scheduler.get(ctx.job_id).state

    def after(ctx):
        seen["after"] = ctx.scheduler.run_after(0, record, text="dropped")
        seen["after_at"] = ctx.scheduler.run_at(ctx.now(), record, text="dropped too")

    if is_async:

        @app.action
        async def act(ctx):
            before(ctx)
            await ctx.run_mutation(record, text="still running")
            after(ctx)

    else:

        @app.action
        def act(ctx):
            before(ctx)
            ctx.run_mutation(record, text="still running")
            after(ctx)

    job_id = schedule(app, 0, act)
    app.run_due_jobs()
    assert seen["state"] == "canceled"
    job = app.get_job(job_id)
    assert job.state == "canceled"
    assert job.attempts == 1
    assert job.finished_at is not None
    assert app.get_job(seen["after"]) is None
    assert app.get_job(seen["after_at"]) is None
    assert app.get_job(seen["before"]).state == "success"
    assert ran == ["still running", "scheduled before cancel"]
    assert app.run_due_jobs() == 0


def test_a_canceled_running_action_that_then_raises_stays_canceled_and_is_not_retried(app):
    calls: list[int] = []

    @app.action(retry=tq.Retry(attempts=3, initial_delay=1, max_delay=1))
    def act(ctx):
        calls.append(ctx.attempt)
        ctx.scheduler.cancel(ctx.job_id)
        raise RuntimeError("and then it failed")

    job_id = schedule(app, 0, act)
    app.run_due_jobs()
    app.clock.advance(HOUR)
    app.run_due_jobs()
    assert app.get_job(job_id).state == "canceled"
    assert calls == [1]


def test_an_action_canceled_by_another_mutation_while_it_runs_ends_canceled(app, notes):
    @app.mutation
    def cancel_job(ctx, job_id):
        ctx.scheduler.cancel(job_id)

    @app.action
    def act(ctx):
        ctx.run_mutation(cancel_job, job_id=ctx.job_id)
        return ctx.scheduler.run_after(0, notes.add, text="dropped")

    job_id = schedule(app, 0, act)
    app.run_due_jobs()
    assert app.get_job(job_id).state == "canceled"
    assert app.list_jobs(function="notes.add") == []


# --- mutation jobs a serving worker holds ----------------------------------------------------
# A serving worker claims a run of due mutations at once (`batch`) and marks the ones it applied
# `success` later; run_due_jobs claims one at a time, so only a serving worker shows these.


@pytest.fixture
def cancel_job(app):
    @app.mutation(name="tests.cancel_job")
    def cancel(ctx, job_id):
        ctx.scheduler.cancel(job_id)

    return cancel


def test_a_mutation_job_canceled_while_a_worker_holds_it_is_not_applied(app, notes, cancel_job):
    @app.mutation
    def plan(ctx):
        victim = ctx.scheduler.run_after(1, notes.add, text="from a canceled job")
        return ctx.scheduler.run_after(0, cancel_job, job_id=victim), victim

    canceler, victim = app.run_mutation(plan)
    app.clock.advance(1)
    with app.start_worker(poll_interval=0.05):  # claims both: the canceler runs first
        assert wait_for(lambda: app.get_job(canceler).state == "success", timeout=5)
    assert app.get_job(victim).state == "canceled"
    assert notes.texts() == []


def test_a_mutation_job_canceled_after_it_was_applied_stays_a_success(app, notes, cancel_job):
    @app.mutation
    def plan(ctx):
        applied = ctx.scheduler.run_after(0, notes.add, text="applied")
        return ctx.scheduler.run_after(1, cancel_job, job_id=applied), applied

    canceler, applied = app.run_mutation(plan)
    app.clock.advance(1)
    with app.start_worker(poll_interval=0.05):  # claims both: the canceler runs second
        assert wait_for(lambda: app.get_job(canceler).state == "success", timeout=5)
    assert notes.texts() == ["applied"]
    assert app.get_job(applied).state == "success"  # canceling a finished job changes nothing


# =============================================================================================
# leases: a worker that dies holding an action
# =============================================================================================


class Hang:
    """An action whose first attempt hangs until released, run by a worker that then "dies"
    (nothing renews its lease: only `serve` does)."""

    def __init__(self, app, retry: tq.Retry | None = None, hang_attempts: tuple[int, ...] = (1,)):
        self.app = app
        self.started = threading.Event()
        self.release = threading.Event()
        self.calls: list[int] = []
        self.threads: list[threading.Thread] = []

        @app.action(retry=retry, name="hang.action")
        def hang(ctx):
            self.calls.append(ctx.attempt)
            if ctx.attempt in hang_attempts:
                self.started.set()
                self.release.wait(10)
            return "done"

        self.action = hang

    def claim_and_die(self, lease: float, worker_id: str) -> None:
        self.started.clear()
        worker = Worker(self.app.runtime, worker_id=worker_id, lease_seconds=lease)
        thread = threading.Thread(target=worker.run_next, daemon=True)
        thread.start()
        self.threads.append(thread)
        assert self.started.wait(5), "the action did not start"

    def finish_zombies(self) -> None:
        self.release.set()
        for thread in self.threads:
            thread.join(5)


@pytest.fixture
def hang_factory(app):
    made: list[Hang] = []

    def make(**options):
        hang = Hang(app, **options)
        made.append(hang)
        return hang

    yield make
    for hang in made:
        hang.finish_zombies()


def test_an_action_whose_worker_lost_its_lease_is_failed_as_worker_lost(app, hang_factory):
    hang = hang_factory()
    job_id = schedule(app, 0, hang.action)
    claimed_at = app.clock.now()
    hang.claim_and_die(lease=5, worker_id="doomed")
    job = app.get_job(job_id)
    assert (job.state, job.attempts, job.started_at) == ("in_progress", 1, claimed_at)

    app.clock.advance(4.9)
    assert app.run_due_jobs() == 0
    assert app.get_job(job_id).state == "in_progress"

    app.clock.advance(0.2)
    assert app.run_due_jobs() == 0
    job = app.get_job(job_id)
    assert job.state == "failed"
    assert "worker lost" in job.error
    assert job.error == WORKER_LOST
    assert job.finished_at == app.clock.now()
    assert job.attempts == 1

    # the worker was not dead after all: when it finishes it does not overwrite the outcome
    hang.finish_zombies()
    assert app.get_job(job_id) == job
    assert app.list_jobs(state="in_progress") == []
    assert hang.calls == [1]


def test_an_action_whose_worker_lost_its_lease_is_retried_under_its_policy(app, hang_factory):
    retry = tq.Retry(attempts=3, initial_delay=2, max_delay=2)
    hang = hang_factory(retry=retry)
    job_id = schedule(app, 0, hang.action)
    hang.claim_and_die(lease=5, worker_id="doomed")
    app.clock.advance(6)
    assert app.run_due_jobs() == 0  # recovered, not yet due again
    job = app.get_job(job_id)
    assert job.state == "pending"
    assert job.attempts == 1
    assert "worker lost" in job.error
    now = app.clock.now()
    assert now + timedelta(seconds=1) <= job.run_at <= now + timedelta(seconds=2)

    app.clock.set(job.run_at)
    assert app.run_due_jobs() == 1
    job = app.get_job(job_id)
    assert (job.state, job.attempts, job.error) == ("success", 2, None)
    hang.finish_zombies()
    assert app.get_job(job_id) == job
    assert hang.calls == [1, 2]


def test_attempts_lost_with_their_worker_count_against_the_retry_policy(app, hang_factory):
    hang = hang_factory(
        retry=tq.Retry(attempts=2, initial_delay=1, max_delay=1), hang_attempts=(1, 2)
    )
    job_id = schedule(app, 0, hang.action)
    hang.claim_and_die(lease=5, worker_id="first")
    app.clock.advance(6)
    app.run_due_jobs()
    app.clock.set(app.get_job(job_id).run_at)
    hang.claim_and_die(lease=5, worker_id="second")
    assert app.get_job(job_id).attempts == 2
    app.clock.advance(6)
    app.run_due_jobs()
    job = app.get_job(job_id)
    assert (job.state, job.attempts) == ("failed", 2)
    assert "worker lost" in job.error
    hang.finish_zombies()
    assert app.get_job(job_id) == job


def test_a_serving_worker_renews_the_lease_of_a_long_action(real_app):
    """Real clock: the action outlasts its lease several times while another worker keeps
    looking for expired leases; the renewals keep it alive."""
    app = real_app
    calls: list[int] = []

    @app.action
    def slow(ctx):
        calls.append(ctx.attempt)  # an action runs outside any transaction: never re-run
        time.sleep(1.5)
        return "done"

    job_id = schedule(app, 0, slow)
    with (
        app.start_worker(poll_interval=0.05, lease_seconds=0.5),
        app.start_worker(poll_interval=0.05, lease_seconds=0.5),
    ):
        assert wait_for(lambda: app.get_job(job_id).state != "pending", timeout=5)
        assert wait_for(lambda: app.get_job(job_id).state != "in_progress", timeout=10)
    job = app.get_job(job_id)
    assert (job.state, job.attempts, job.error) == ("success", 1, None)
    assert calls == [1]


def test_a_worker_renews_the_leases_of_the_jobs_it_holds_and_no_others(app):
    """A job the database says this worker holds, but the worker does not know of (a claim
    whose commit reply never arrived), is not renewed: its lease runs out and it is recovered."""
    worker = Worker(app.runtime, worker_id="w1", lease_seconds=30)
    renewed: list[int] = []

    @app.action(name="lease.probe")
    def probe(ctx):
        renewed.append(worker.renew_leases())

    @app.mutation(name="lease.noop")
    def noop(ctx):
        pass

    held = schedule(app, 0, probe)
    lost = schedule(app, HOUR, noop)
    with app.engine.begin() as connection:
        connection.execute(
            jobs.update()
            .where(jobs.c.id == lost)
            .values(
                state="in_progress",
                attempts=1,
                lease_owner="w1",
                lease_expires_at=app.clock.now() + timedelta(seconds=30),
            )
        )
    assert worker.run_next()
    assert renewed == [1]  # the probe's own job, while it ran
    assert app.get_job(held).state == "success"
    assert worker.renew_leases() == 0
    app.clock.advance(31)
    assert worker.recover_expired() == 1
    assert app.get_job(lost).state == "pending"


# =============================================================================================
# the in-process worker
# =============================================================================================


def test_the_in_process_worker_wakes_up_when_a_job_is_committed(app, notes):
    with app.start_worker(poll_interval=30):
        time.sleep(0.2)  # let it go idle on its long poll
        started = time.monotonic()
        job_id = schedule(app, 0, notes.add, text="fast")
        assert wait_for(lambda: app.get_job(job_id).state == "success", timeout=5)
        elapsed = time.monotonic() - started
    assert elapsed < 0.5, f"took {elapsed:.3f}s"
    assert notes.texts() == ["fast"]


def test_the_in_process_worker_runs_jobs_scheduled_by_its_jobs(app, notes):
    @app.action
    def act(ctx, n):
        ctx.run_mutation(notes.add, text=f"action {n}")
        if n < 3:
            ctx.scheduler.run_after(0, act, n=n + 1)

    with app.start_worker(poll_interval=30):
        schedule(app, 0, act, n=1)
        assert wait_for(lambda: len(notes.texts()) == 3, timeout=5)
    assert notes.texts() == ["action 1", "action 2", "action 3"]
    assert {j.state for j in app.list_jobs()} == {"success"}


def test_the_in_process_worker_goes_on_after_a_failing_job(app, notes):
    @app.mutation
    def broken(ctx):
        raise RuntimeError("broken")

    @app.action
    async def broken_action(ctx):
        raise RuntimeError("broken action")

    with app.start_worker(poll_interval=30):
        bad = schedule(app, 0, broken)
        bad_action = schedule(app, 0, broken_action)
        good = schedule(app, 0, notes.add, text="after")
        assert wait_for(lambda: app.get_job(good).state == "success", timeout=5)
    assert app.get_job(bad).state == app.get_job(bad_action).state == "failed"


def test_several_workers_run_every_job_exactly_once(app):
    """Counted in the database: a scheduled mutation's writes commit with its job's success
    mark, so neither a run lost with its worker nor a call re-run after a serialization
    conflict (PostgreSQL runs the body again, see runtime/runner.py) can count twice. Actions
    run outside any transaction and are never re-run, so they are counted in Python too."""
    runs = sa.Table(
        "runs",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(20), nullable=False),
    )
    runs.metadata.create_all(app.engine)
    actions_ran: list[str] = []
    lock = threading.Lock()

    @app.mutation(name="many.record")
    def record(ctx, key):
        ctx.db.execute(runs.insert().values(key=key))

    @app.query(name="many.runs")
    def runs_by_key(ctx):
        return Counter(ctx.db.scalars(sa.select(runs.c.key)))

    @app.mutation(name="many.mutation")
    def m(ctx, key):
        record(ctx, key=key)

    @app.action(name="many.action")
    def a(ctx, key):
        with lock:
            actions_ran.append(key)
        ctx.run_mutation(record, key=key)

    @app.mutation
    def plan(ctx):
        for i in range(60):
            ctx.scheduler.run_after(0, m, key=f"m{i}")
            if i % 3 == 0:
                ctx.scheduler.run_after(0, a, key=f"a{i}")

    mutation_keys = [f"m{i}" for i in range(60)]
    action_keys = [f"a{i}" for i in range(0, 60, 3)]
    with (
        app.start_worker(poll_interval=0.05),
        app.start_worker(poll_interval=0.05),
        app.start_worker(poll_interval=0.05),
    ):
        app.run_mutation(plan)
        assert wait_for(lambda: len(app.list_jobs(state="success", limit=1000)) == 80, timeout=20)
    assert app.run_query(runs_by_key) == Counter(mutation_keys + action_keys)
    assert sorted(actions_ran) == sorted(action_keys)
    assert {j.state for j in app.list_jobs(limit=1000)} == {"success"}


def test_the_in_process_worker_stops_promptly(app):
    worker = app.start_worker(poll_interval=30)
    time.sleep(0.1)
    started = time.monotonic()
    worker.stop()
    assert time.monotonic() - started < 2


def test_the_in_process_worker_runs_a_job_when_it_becomes_due(real_app):
    app = real_app
    done: list[float] = []

    @app.mutation
    def mark(ctx):
        done.append(time.monotonic())  # a retried call would append again: only [0] counts

    with app.start_worker(poll_interval=30):
        time.sleep(0.1)
        started = time.monotonic()
        job_id = schedule(app, 0.3, mark)
        assert wait_for(lambda: done, timeout=5)
        assert wait_for(lambda: app.get_job(job_id).state == "success", timeout=5)
    assert 0.29 <= done[0] - started < 1.0
    job = app.get_job(job_id)
    assert timedelta(seconds=0.3) <= job.started_at - job.created_at < timedelta(seconds=1)


# =============================================================================================
# the API facade as jobs
# =============================================================================================


def one_task(name: str, task: Any = None) -> Any:
    return (
        Builder.workflow(name)
        .start_condition("start")
        .end_condition("end")
        .task("t", task if task is not None else auto_task())
        .connect_condition("start", lambda to: to.task("t"))
        .connect_task("t", lambda to: to.condition("end"))
    )


def register(app, workflow) -> Any:
    return app.register(tq.versions(workflow.name).version("v1", workflow)).api("v1")


def test_a_scheduled_api_method_completes_a_work_item_when_due(app):
    api = register(app, one_task("one"))
    wid = api.internal_initialize_root_workflow()
    (item,) = api.list_work_items(wid)

    @app.mutation
    def plan(ctx, work_item_id):
        return ctx.scheduler.run_after(
            HOUR, api.internal_complete_work_item, work_item_id=work_item_id
        )

    job_id = app.run_mutation(plan, work_item_id=item.id)
    job = app.get_job(job_id)
    assert job.function.endswith("internal_complete_work_item")
    assert job.args == {"work_item_id": item.id}
    app.clock.advance(HOUR - 1)
    assert app.run_due_jobs() == 0
    assert api.get_work_item_state(item.id) == "started"
    app.clock.advance(1)
    assert app.run_due_jobs() == 1
    assert app.get_job(job_id).state == "success"
    assert api.get_work_item_state(item.id) == "completed"
    assert api.get_workflow_state(wid) == "completed"


def test_a_worker_runs_scheduled_api_methods(app):
    api = register(app, one_task("one"))
    wid = api.internal_initialize_root_workflow()
    (item,) = api.list_work_items(wid)

    @app.mutation
    def plan(ctx):
        ctx.scheduler.run_after(0, api.internal_complete_work_item, work_item_id=item.id)
        ctx.scheduler.run_after(0, api.internal_initialize_root_workflow, payload={"n": 2})

    with app.start_worker(poll_interval=0.05):
        app.run_mutation(plan)
        assert wait_for(lambda: len(api.list_workflows()) == 2, timeout=5)
        assert wait_for(lambda: api.get_workflow_state(wid) == "completed", timeout=5)
        assert wait_for(lambda: {j.state for j in app.list_jobs()} == {"success"}, timeout=5)


def test_scheduled_api_methods_take_their_own_parameter_names(app):
    api = register(app, one_task("manual", Builder.task("w")))
    wid = api.internal_initialize_root_workflow()
    target = {"path": ["manual", "t", "w"], "parent_workflow_id": wid, "parent_task_name": "t"}

    @app.mutation
    def plan(ctx):
        ctx.scheduler.run_after(
            10, api.internal_initialize_work_item, target=target, payload={"x": 1}
        )
        ctx.scheduler.run_after(10, api.internal_initialize_root_workflow, payload=None)

    app.run_mutation(plan)
    app.clock.advance(10)
    assert app.run_due_jobs() == 2
    assert {j.state for j in app.list_jobs()} == {"success"}
    assert [i.state for i in api.list_work_items(wid)] == ["initialized"]
    assert len(api.list_workflows()) == 2


def test_an_async_action_calls_the_api_through_its_ctx(app):
    api = register(app, one_task("one"))
    wid = api.internal_initialize_root_workflow()
    (item,) = api.list_work_items(wid)
    seen: list[str] = []

    @app.action
    async def complete_later(ctx, work_item_id):
        seen.append(await ctx.run_query(api.get_work_item_state, work_item_id=work_item_id))
        await ctx.run_mutation(
            api.internal_complete_work_item, work_item_id=work_item_id, payload={}
        )
        seen.append(await ctx.run_query(api.get_work_item_state, work_item_id=work_item_id))

    job_id = schedule(app, 0, complete_later, work_item_id=item.id)
    app.run_due_jobs()
    assert app.get_job(job_id).state == "success"
    assert seen == ["started", "completed"]
    assert api.get_workflow_state(wid) == "completed"


def test_a_sync_action_calls_the_api_through_its_ctx(app):
    api = register(app, one_task("one"))
    wid = api.internal_initialize_root_workflow()
    (item,) = api.list_work_items(wid)

    @app.action
    def complete_now(ctx, work_item_id):
        ctx.run_mutation(api.internal_complete_work_item, work_item_id=work_item_id)
        return ctx.run_query(api.get_workflow_state, workflow_id=wid)

    assert app.run_action(complete_now, work_item_id=item.id) == "completed"


def test_a_scheduled_public_method_runs_as_a_public_call(app):
    api = register(app, one_task("one"))
    wid = api.internal_initialize_root_workflow()
    (item,) = api.list_work_items(wid)
    job_id = schedule(app, 0, api.complete_work_item, work_item_id=item.id)
    app.run_due_jobs()
    job = app.get_job(job_id)
    assert job.state == "failed"
    assert "NotInternalMutationError" in job.error
    assert api.get_work_item_state(item.id) == "started"


def test_a_callback_to_a_work_item_that_is_no_longer_started_fails_cleanly(app, notes):
    item_builder = Builder.work_item("w").with_activities(
        on_initialized=lambda ctx: ctx.work_item.start(),
        on_completed=lambda ctx: notes.add(ctx, text=f"completed {ctx.work_item.id}"),
    )
    api = register(
        app,
        one_task(
            "one",
            Builder.task(item_builder).with_activities(
                on_enabled=lambda ctx: ctx.work_item.initialize()
            ),
        ),
    )
    wid = api.internal_initialize_root_workflow()
    (item,) = api.list_work_items(wid)
    late = schedule(app, HOUR, api.internal_complete_work_item, work_item_id=item.id)
    api.internal_complete_work_item(item.id)  # done by hand before the timer fires
    before = api.get_workflow_snapshot(wid)
    notes_before = notes.texts()
    jobs_before = {j.id for j in app.list_jobs()}

    app.clock.advance(HOUR)
    assert app.run_due_jobs() == 1
    job = app.get_job(late)
    assert job.state == "failed"
    assert "WorkItemInvalidStateError" in job.error
    assert item.id in job.error
    assert "'completed'" in job.error and "started" in job.error
    assert api.get_workflow_snapshot(wid) == before
    assert notes.texts() == notes_before == [f"completed {item.id}"]
    assert {j.id for j in app.list_jobs()} == jobs_before


def test_domain_writes_of_activities_run_by_a_scheduled_api_call_are_kept(app, notes):
    item_builder = Builder.work_item("w").with_activities(
        on_initialized=lambda ctx: ctx.work_item.start(),
        on_completed=lambda ctx: notes.add(ctx, text="activity wrote this"),
    )
    task = Builder.task(item_builder).with_activities(
        on_enabled=lambda ctx: ctx.work_item.initialize()
    )
    api = register(app, one_task("one", task))
    wid = api.internal_initialize_root_workflow()
    (item,) = api.list_work_items(wid)
    job_id = schedule(app, 0, api.internal_complete_work_item, work_item_id=item.id)
    app.run_due_jobs()
    assert app.get_job(job_id).state == "success"
    assert api.get_workflow_state(wid) == "completed"
    assert notes.texts() == ["activity wrote this"]


# =============================================================================================
# register_scheduled: jobs tied to engine elements (docs/semantics.md, sections 12, 17.10, 17.11)
# =============================================================================================


@dataclass
class Entry:
    label: str
    element: Any
    job_id: str
    refusal: str | None  # None: the job was tied to the element


class Ties:
    """Hooks for activities and actions: each schedules a job an hour ahead with ctx.scheduler
    and tries to tie it to the element with ctx.register_scheduled, recording what happened."""

    def __init__(self, app: tq.App) -> None:
        self.app = app
        self.entries: list[Entry] = []
        self.ran: list[str] = []

        @app.mutation(name="ties.noop")
        def noop(ctx, label):
            self.ran.append(label)

        self.noop = noop

    def hook(
        self, label: str | Callable[[Any], str], element: Callable[[Any], Any] | None = None
    ) -> Callable[..., None]:
        def hook(ctx: Any, payload: Any = None) -> None:
            name = label(ctx) if callable(label) else label
            job_id = ctx.scheduler.run_after(HOUR, self.noop, label=name)
            try:
                assert ctx.register_scheduled(job_id) == job_id
                refusal = None
            except tq.RegisterScheduledNotAllowedError as error:
                refusal = str(error)
            self.entries.append(Entry(name, element(ctx) if element else None, job_id, refusal))

        return hook

    # --- reading what happened --------------------------------------------------------------

    def find(self, label: str | None = None, element: Any = ..., *, tied: bool | None = None):
        found = [
            e
            for e in self.entries
            if (label is None or e.label == label)
            and (element is ... or e.element == element)
            and (tied is None or (e.refusal is None) == tied)
        ]
        return found

    def states(self, entries: list[Entry]) -> dict[tuple[str, Any], str]:
        return {(e.label, e.element): self.app.get_job(e.job_id).state for e in entries}

    def tied_states(self) -> dict[tuple[str, Any], str]:
        return self.states(self.find(tied=True))

    def labels(self, *, tied: bool) -> list[str]:
        return [e.label for e in self.find(tied=tied)]

    def assert_refusals_are_explained(self) -> None:
        for entry in self.find(tied=False):
            assert "ctx.scheduler" in entry.refusal, entry
            assert "register_scheduled" in entry.refusal, entry

    def assert_untied_jobs_outlive_their_elements(self) -> None:
        """Jobs of teardown contexts were scheduled directly: they run when due."""
        untied = self.find(tied=False)
        assert untied, "no teardown context ran"
        assert {self.app.get_job(e.job_id).state for e in untied} == {"pending"}
        self.app.clock.advance(HOUR)
        self.app.run_due_jobs()
        assert {self.app.get_job(e.job_id).state for e in untied} == {"success"}
        assert sorted(self.ran) == sorted(e.label for e in untied)


def transition(prefix: str, change: Callable[[Any], Any]) -> Callable[[Any], str]:
    return lambda ctx: f"{prefix} {change(ctx).prev_state}->{change(ctx).next_state}"


def work_item_id(ctx):
    return ctx.work_item.id


def workflow_id(ctx):
    return ctx.workflow.id


def generation(ctx):
    return (ctx.task.name, ctx.task.generation)


@pytest.fixture
def ties(app) -> Ties:
    return Ties(app)


def tied_workflow(ties: Ties, *, items: int = 2) -> Any:
    """start -> t -> end. Every active-lifecycle context ties a job; every teardown context
    tries to. Task `t` creates `items` work items when enabled; nothing starts by itself."""
    hook = ties.hook

    def w_initialize(ctx, payload):
        hook("w.initialize", work_item_id)(ctx)  # before initialize(): forces creation
        ctx.work_item.initialize()

    def w_start(ctx, payload):
        hook("w.start", work_item_id)(ctx)
        ctx.work_item.start()

    w = (
        Builder.work_item("w")
        .with_actions(Builder.work_item_actions().initialize(Any, w_initialize).start(Any, w_start))
        .with_activities(
            **{
                name: hook(f"w.{name}", work_item_id)
                for name in (
                    "on_initialized",
                    "on_started",
                    "on_completed",
                    "on_failed",
                    "on_canceled",
                    "on_reset",
                )
            }
        )
    )

    def t_enabled(ctx):
        hook("t.on_enabled", generation)(ctx)
        for _ in range(items):
            ctx.work_item.initialize()

    t = Builder.task(w).with_activities(
        on_enabled=t_enabled,
        on_work_item_state_changed=hook(
            transition("t.wisc", lambda c: c.work_item), lambda c: c.work_item.id
        ),
        **{
            name: hook(f"t.{name}", generation)
            for name in ("on_started", "on_completed", "on_failed", "on_canceled", "on_disabled")
        },
    )

    def wf_initialize(ctx, payload):
        hook("wf.initialize", workflow_id)(ctx)  # before initialize(): forces creation
        ctx.workflow.initialize()

    return (
        Builder.workflow("tied")
        .with_actions(Builder.workflow_actions().initialize(Any, wf_initialize))
        .with_activities(
            **{
                name: hook(f"wf.{name}", workflow_id)
                for name in (
                    "on_initialized",
                    "on_started",
                    "on_completed",
                    "on_failed",
                    "on_canceled",
                )
            }
        )
        .start_condition("start")
        .end_condition("end")
        .task("t", t)
        .connect_condition("start", lambda to: to.task("t"))
        .connect_task("t", lambda to: to.condition("end"))
    )


@pytest.fixture
def tied(app, ties):
    api = register(app, tied_workflow(ties))
    wid = api.internal_initialize_root_workflow()
    w1, w2 = (i.id for i in api.list_work_items(wid))
    return api, wid, w1, w2


def test_jobs_tied_in_active_contexts_stay_pending_while_their_elements_live(app, ties, tied):
    api, wid, w1, w2 = tied
    t1 = ("t", 1)
    assert ties.tied_states() == {
        ("wf.initialize", wid): "pending",
        ("wf.on_initialized", wid): "pending",
        ("t.on_enabled", t1): "pending",
        ("w.initialize", w1): "pending",
        ("w.on_initialized", w1): "pending",
        ("w.initialize", w2): "pending",
        ("w.on_initialized", w2): "pending",
    }
    api.internal_start_work_item(w1)
    assert ties.labels(tied=False) == []
    states = ties.tied_states()
    assert set(states.values()) == {"pending"}
    assert {
        ("wf.on_started", wid),
        ("t.on_started", t1),
        ("w.start", w1),
        ("w.on_started", w1),
        ("t.wisc initialized->started", w1),
    } <= set(states)


def test_registered_jobs_are_canceled_with_their_element_on_completion(app, ties, tied):
    api, wid, w1, w2 = tied
    t1 = ("t", 1)
    api.internal_start_work_item(w1)
    api.internal_complete_work_item(w1)

    # the work item's jobs are canceled; its task goes on (a child finishing is not the
    # task's end, §17.11) and so do the task's and the workflow's jobs
    states = ties.tied_states()
    w1_jobs = {k: v for k, v in states.items() if k[1] == w1 and k[0].startswith("w.")}
    assert set(w1_jobs) == {
        ("w.initialize", w1),
        ("w.on_initialized", w1),
        ("w.start", w1),
        ("w.on_started", w1),
    }
    assert set(w1_jobs.values()) == {"canceled"}
    others = {k: v for k, v in states.items() if k not in w1_jobs}
    assert set(others.values()) == {"pending"}, others
    assert ("t.wisc started->completed", w1) in others
    assert ties.labels(tied=False) == ["w.on_completed"]

    api.internal_start_work_item(w2)
    api.internal_complete_work_item(w2)
    assert api.get_workflow_state(wid) == "completed"
    assert set(ties.tied_states().values()) == {"canceled"}
    assert ties.labels(tied=False) == [
        "w.on_completed",
        "w.on_completed",
        "t.on_completed",
        "wf.on_completed",
    ]
    ties.assert_refusals_are_explained()
    assert ("t.on_completed", t1) in {(e.label, e.element) for e in ties.find(tied=False)}
    ties.assert_untied_jobs_outlive_their_elements()
    assert app.list_jobs(state="pending") == []


def test_registered_jobs_are_canceled_with_their_element_on_failure(app, ties, tied):
    api, wid, w1, _ = tied
    api.internal_start_work_item(w1)
    api.internal_fail_work_item(w1)
    assert api.get_workflow_state(wid) == "failed"
    assert set(ties.tied_states().values()) == {"canceled"}
    # w2 was torn down: its task's state-changed activity ran for a teardown
    assert ties.states(ties.find("t.wisc started->failed", w1)) == {
        ("t.wisc started->failed", w1): "canceled"
    }
    assert sorted(ties.labels(tied=False)) == sorted(
        [
            "w.on_failed",
            "w.on_canceled",
            "t.wisc initialized->canceled",
            "t.on_failed",
            "wf.on_failed",
        ]
    )
    ties.assert_refusals_are_explained()
    ties.assert_untied_jobs_outlive_their_elements()


def test_registered_jobs_of_a_reset_or_canceled_work_item_are_canceled(app, ties, tied):
    api, wid, w1, w2 = tied
    api.internal_start_work_item(w1)
    api.internal_reset_work_item(w1)
    states = ties.tied_states()
    assert {k: v for k, v in states.items() if k[1] == w1 and k[0].startswith("w.")} == {
        ("w.initialize", w1): "canceled",
        ("w.on_initialized", w1): "canceled",
        ("w.start", w1): "canceled",
        ("w.on_started", w1): "canceled",
    }
    assert states[("t.wisc started->initialized", w1)] == "pending"
    assert states[("t.on_started", ("t", 1))] == "pending"
    assert ties.labels(tied=False) == ["w.on_reset"]

    # started again: new jobs, tied again
    api.internal_start_work_item(w1)
    restarted = [e for e in ties.find("w.start", w1)]
    assert [ties.app.get_job(e.job_id).state for e in restarted] == ["canceled", "pending"]

    api.internal_cancel_work_item(w2)  # explicit: the task's policy is asked, it goes on
    states = ties.tied_states()
    assert states[("w.initialize", w2)] == states[("w.on_initialized", w2)] == "canceled"
    assert states[("t.wisc initialized->canceled", w2)] == "pending"  # not a teardown
    assert states[("t.on_enabled", ("t", 1))] == "pending"
    assert states[("wf.initialize", wid)] == "pending"
    assert ties.labels(tied=False) == ["w.on_reset", "w.on_canceled"]
    ties.assert_refusals_are_explained()


def test_registered_jobs_are_canceled_when_the_workflow_is_canceled_before_it_starts(
    app, ties, tied
):
    api, wid, _, _ = tied
    api.internal_cancel_root_workflow(wid)
    assert set(ties.tied_states().values()) == {"canceled"}
    assert sorted(ties.labels(tied=False)) == sorted(
        [
            "w.on_canceled",
            "w.on_canceled",
            "t.wisc initialized->canceled",
            "t.wisc initialized->canceled",
            "t.on_disabled",
            "wf.on_canceled",
        ]
    )
    ties.assert_refusals_are_explained()
    ties.assert_untied_jobs_outlive_their_elements()


def test_registered_jobs_are_canceled_when_the_workflow_is_canceled_while_running(app, ties, tied):
    api, wid, w1, _ = tied
    api.internal_start_work_item(w1)
    api.internal_cancel_root_workflow(wid)
    assert set(ties.tied_states().values()) == {"canceled"}
    assert sorted(ties.labels(tied=False)) == sorted(
        [
            "w.on_canceled",
            "w.on_canceled",
            "t.wisc initialized->canceled",
            "t.wisc started->canceled",
            "t.on_canceled",
            "wf.on_canceled",
        ]
    )
    ties.assert_refusals_are_explained()
    ties.assert_untied_jobs_outlive_their_elements()


def test_register_scheduled_in_a_teardown_context_rolls_the_call_back_if_not_caught(app):
    scheduled: list[str] = []

    def on_completed(ctx):
        job_id = ctx.scheduler.run_after(0, "ties.noop", label="x")
        scheduled.append(job_id)
        ctx.register_scheduled(job_id)

    Ties(app)
    item = Builder.work_item("w").with_activities(
        on_initialized=lambda ctx: ctx.work_item.start(), on_completed=on_completed
    )
    task = Builder.task(item).with_activities(on_enabled=lambda ctx: ctx.work_item.initialize())
    api = register(app, one_task("one", task))
    wid = api.internal_initialize_root_workflow()
    (w,) = api.list_work_items(wid)
    with pytest.raises(tq.RegisterScheduledNotAllowedError, match=r"ctx\.scheduler"):
        api.internal_complete_work_item(w.id)
    assert api.get_work_item_state(w.id) == "started"
    assert app.get_job(scheduled[0]) is None


def test_register_scheduled_checks_the_job_id(app):
    errors: list[BaseException] = []

    def on_enabled(ctx):
        for bad in ("no-such-job", 42):
            try:
                ctx.register_scheduled(bad)
            except Exception as error:
                errors.append(error)
        ctx.work_item.initialize()

    api = register(app, one_task("one", auto_task().with_activities(on_enabled=on_enabled)))
    api.internal_initialize_root_workflow()
    assert isinstance(errors[0], tq.JobNotFoundError)
    assert isinstance(errors[1], TypeError)


def test_a_running_action_tied_to_a_work_item_that_it_completes_ends_successfully(app):
    holder: dict[str, Any] = {}

    @app.action
    def finish_it(ctx, work_item_id):
        ctx.run_mutation(holder["api"].internal_complete_work_item, work_item_id=work_item_id)

    def on_started(ctx):
        ctx.register_scheduled(ctx.scheduler.run_after(0, finish_it, work_item_id=ctx.work_item.id))

    item = Builder.work_item("w").with_activities(
        on_initialized=lambda ctx: ctx.work_item.start(), on_started=on_started
    )
    task = Builder.task(item).with_activities(on_enabled=lambda ctx: ctx.work_item.initialize())
    api = holder["api"] = register(app, one_task("one", task))
    wid = api.internal_initialize_root_workflow()
    (job,) = app.list_jobs()
    assert app.run_due_jobs() == 1
    assert api.get_workflow_state(wid) == "completed"
    assert app.get_job(job.id).state == "success"


# --- task generations (§17.11) ---------------------------------------------------------------


def test_a_task_generation_cancels_only_its_own_jobs(app, ties):
    def route(ctx):
        back = ctx.task.generation < 3
        return ctx.route.to_condition("back") if back else ctx.route.to_condition("end")

    def on_enabled(ctx):
        ties.hook("a.on_enabled", generation)(ctx)
        ctx.work_item.initialize()

    a = (
        auto_task()
        .with_join_type("xor")
        .with_split_type("xor")
        .with_activities(
            on_enabled=on_enabled,
            on_started=ties.hook("a.on_started", generation),
            on_work_item_state_changed=ties.hook(
                transition("a.wisc", lambda c: c.work_item), generation
            ),
        )
    )
    wf = (
        Builder.workflow("loop")
        .start_condition("start")
        .end_condition("end")
        .condition("back")
        .task("a", a)
        .connect_condition("start", lambda to: to.task("a"))
        .connect_condition("back", lambda to: to.task("a"))
        .connect_task("a", lambda to: to.condition("back").condition("end").route(route))
    )
    api = register(app, wf)
    wid = api.internal_initialize_root_workflow()

    def by_generation():
        found: dict[int, set[str]] = {}
        for (_label, (_, gen)), state in ties.tied_states().items():
            found.setdefault(gen, set()).add(state)
        return found

    assert by_generation() == {1: {"pending"}}
    for gen in (1, 2):
        item = api.list_work_items(wid, state="started")[0]
        api.internal_complete_work_item(item.id)
        assert api.get_workflow_snapshot(wid).tasks["a"].generation == gen + 1
        expected = {g: {"canceled"} for g in range(1, gen + 1)}
        expected[gen + 1] = {"pending"}
        assert by_generation() == expected
    item = api.list_work_items(wid, state="started")[0]
    api.internal_complete_work_item(item.id)
    assert api.get_workflow_state(wid) == "completed"
    assert by_generation() == {1: {"canceled"}, 2: {"canceled"}, 3: {"canceled"}}
    assert len(ties.find("a.on_enabled", tied=True)) == 3


# --- composite tasks -------------------------------------------------------------------------


def composite_workflow(ties: Ties, *, children: int = 2, dynamic: bool = False) -> Any:
    """parent: start -> c -> end, c a composite task whose child workflow `ch` is
    start -> ct -> end with one work item created when ct is enabled (started by hand)."""
    hook = ties.hook
    child = (
        Builder.workflow("ch")
        .with_activities(
            **{
                name: hook(f"ch.{name}", workflow_id)
                for name in (
                    "on_initialized",
                    "on_started",
                    "on_completed",
                    "on_failed",
                    "on_canceled",
                )
            }
        )
        .start_condition("start")
        .end_condition("end")
        .task(
            "ct",
            Builder.task("cw").with_activities(on_enabled=lambda ctx: ctx.work_item.initialize()),
        )
        .connect_condition("start", lambda to: to.task("ct"))
        .connect_task("ct", lambda to: to.condition("end"))
    )

    def c_enabled(ctx):
        hook("c.on_enabled", generation)(ctx)
        for _ in range(children):
            if dynamic:
                ctx.workflow.initialize["ch"]()
            else:
                ctx.workflow.initialize()

    activities = dict(
        on_enabled=c_enabled,
        on_workflow_state_changed=hook(
            transition("c.wsc", lambda c: c.workflow), lambda c: c.workflow.id
        ),
        **{
            name: hook(f"c.{name}", generation)
            for name in ("on_started", "on_completed", "on_failed", "on_canceled", "on_disabled")
        },
    )
    if dynamic:
        c = Builder.dynamic_composite_task([child]).with_activities(**activities)
    else:
        c = Builder.composite_task(child).with_activities(**activities)
    parent = Builder.workflow("parent").start_condition("start").end_condition("end")
    parent = parent.dynamic_composite_task("c", c) if dynamic else parent.composite_task("c", c)
    return parent.connect_condition("start", lambda to: to.task("c")).connect_task(
        "c", lambda to: to.condition("end")
    )


def child_item(api, child_id: str) -> str:
    (item,) = api.list_work_items(child_id)
    return item.id


@pytest.mark.parametrize("dynamic", [False, True], ids=["composite", "dynamic"])
def test_composite_jobs_outlive_a_finished_child_and_end_with_the_task(app, ties, dynamic):
    api = register(app, composite_workflow(ties, dynamic=dynamic))
    pid = api.internal_initialize_root_workflow()
    ch1, ch2 = (c.id for c in api.list_child_workflows(pid, "c"))
    c1 = ("c", 1)
    assert ties.tied_states() == {
        ("c.on_enabled", c1): "pending",
        ("ch.on_initialized", ch1): "pending",
        ("ch.on_initialized", ch2): "pending",
    }

    api.internal_start_work_item(child_item(api, ch1))
    states = ties.tied_states()
    assert set(states.values()) == {"pending"}
    assert {
        ("c.on_started", c1),
        ("ch.on_started", ch1),
        ("c.wsc initialized->started", ch1),
    } <= set(states)

    api.internal_complete_work_item(child_item(api, ch1))
    assert api.get_workflow_state(ch1) == "completed"
    states = ties.tied_states()
    assert states[("ch.on_initialized", ch1)] == states[("ch.on_started", ch1)] == "canceled"
    composite = {k: v for k, v in states.items() if k[0].startswith("c.")}
    assert set(composite.values()) == {"pending"}, composite  # §17.11: not when a child ends
    assert ("c.wsc started->completed", ch1) in composite
    assert states[("ch.on_initialized", ch2)] == "pending"
    assert ties.labels(tied=False) == ["ch.on_completed"]

    api.internal_start_work_item(child_item(api, ch2))
    api.internal_complete_work_item(child_item(api, ch2))
    assert api.get_workflow_state(pid) == "completed"
    assert set(ties.tied_states().values()) == {"canceled"}
    assert ties.labels(tied=False) == ["ch.on_completed", "ch.on_completed", "c.on_completed"]
    ties.assert_refusals_are_explained()
    ties.assert_untied_jobs_outlive_their_elements()


def test_composite_jobs_are_canceled_when_the_composite_is_canceled(app, ties):
    api = register(app, composite_workflow(ties))
    pid = api.internal_initialize_root_workflow()
    ch1, _ = (c.id for c in api.list_child_workflows(pid, "c"))
    api.internal_start_work_item(child_item(api, ch1))
    api.internal_cancel_root_workflow(pid)
    assert set(ties.tied_states().values()) == {"canceled"}
    assert sorted(ties.labels(tied=False)) == sorted(
        [
            "ch.on_canceled",
            "ch.on_canceled",
            "c.wsc initialized->canceled",
            "c.wsc started->canceled",
            "c.on_canceled",
        ]
    )
    ties.assert_refusals_are_explained()
    ties.assert_untied_jobs_outlive_their_elements()


def test_composite_jobs_are_canceled_when_the_composite_is_disabled(app, ties):
    api = register(app, composite_workflow(ties))
    pid = api.internal_initialize_root_workflow()
    api.internal_cancel_root_workflow(pid)
    assert set(ties.tied_states().values()) == {"canceled"}
    assert sorted(ties.labels(tied=False)) == sorted(
        [
            "ch.on_canceled",
            "ch.on_canceled",
            "c.wsc initialized->canceled",
            "c.wsc initialized->canceled",
            "c.on_disabled",
        ]
    )
    ties.assert_refusals_are_explained()
    ties.assert_untied_jobs_outlive_their_elements()


def test_composite_jobs_are_canceled_when_the_composite_fails(app, ties):
    api = register(app, composite_workflow(ties))
    pid = api.internal_initialize_root_workflow()
    ch1, _ = (c.id for c in api.list_child_workflows(pid, "c"))
    api.internal_start_work_item(child_item(api, ch1))
    api.internal_fail_work_item(child_item(api, ch1))
    assert api.get_workflow_state(pid) == "failed"
    assert set(ties.tied_states().values()) == {"canceled"}
    # c.wsc started->failed ran actively (tied, then canceled with the generation)
    assert ties.states(ties.find("c.wsc started->failed", ch1)) == {
        ("c.wsc started->failed", ch1): "canceled"
    }
    assert sorted(ties.labels(tied=False)) == sorted(
        ["ch.on_failed", "ch.on_canceled", "c.wsc initialized->canceled", "c.on_failed"]
    )
    ties.assert_refusals_are_explained()
    ties.assert_untied_jobs_outlive_their_elements()


def test_an_explicitly_canceled_child_leaves_the_composite_jobs_alone(app, ties):
    api = register(app, composite_workflow(ties))
    pid = api.internal_initialize_root_workflow()
    ch1, ch2 = (c.id for c in api.list_child_workflows(pid, "c"))
    api.internal_start_work_item(child_item(api, ch1))
    api.internal_cancel_workflow(ch2)
    states = ties.tied_states()
    assert states[("ch.on_initialized", ch2)] == "canceled"
    composite = {k: v for k, v in states.items() if k[0].startswith("c.")}
    assert set(composite.values()) == {"pending"}, composite
    assert ("c.wsc initialized->canceled", ch2) in composite  # explicit: an active context
    assert ties.labels(tied=False) == ["ch.on_canceled"]
