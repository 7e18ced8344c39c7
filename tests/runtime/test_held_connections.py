"""SQLite: each thread keeps its connection between calls, and gives it back when it should."""

from __future__ import annotations

import gc
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import tasquencer as tq


@pytest.fixture
def app(tmp_path: Path):
    app = tq.App(f"sqlite:///{tmp_path / 'held.db'}")
    yield app
    app.close()


def _driver(app: tq.App) -> Any:
    """The driver connection this thread's next call runs on."""
    with app.transaction(read_only=True) as tx:
        return tx.connection.connection.driver_connection


def _checked_out(app: tq.App) -> int:
    pool = app.engine.pool
    assert isinstance(pool, sa.QueuePool)
    return pool.checkedout()


def test_a_thread_runs_its_calls_on_one_connection_another_thread_on_its_own(app):
    mine = _driver(app)
    assert _driver(app) is mine
    theirs: list[Any] = []
    thread = threading.Thread(target=lambda: theirs.extend([_driver(app), _driver(app)]))
    thread.start()
    thread.join()
    assert theirs[0] is theirs[1] and theirs[0] is not mine


def test_a_thread_that_ends_gives_its_connection_back(app):
    _driver(app)
    before = _checked_out(app)
    thread = threading.Thread(target=lambda: _driver(app))
    thread.start()
    thread.join()
    del thread
    gc.collect()
    assert _checked_out(app) == before


def test_closing_the_app_gives_every_connection_back(app):
    _driver(app)
    ready, done = threading.Event(), threading.Event()

    def other() -> None:
        _driver(app)
        ready.set()
        done.wait(5)

    thread = threading.Thread(target=other)
    thread.start()
    ready.wait(5)
    assert _checked_out(app) == 2
    app.close()
    assert _checked_out(app) == 0
    done.set()
    thread.join()
    with pytest.raises(tq.ConfigurationError, match="closed"):
        _driver(app)


def _connection(app: tq.App) -> sa.Connection:
    with app.transaction(read_only=True) as tx:
        return tx.connection


def test_a_failed_call_or_a_disposed_engine_gives_the_next_call_a_new_connection(app):
    """A failed call's connection goes back to the pool, which resets it (the same driver
    connection may come back from it); after `engine.dispose()` the next call lets the old
    one go."""
    first = _connection(app)
    with pytest.raises(RuntimeError), app.transaction():
        raise RuntimeError("the call fails")
    assert first.closed
    second = _connection(app)
    assert _connection(app) is second
    driver = _driver(app)
    app.engine.dispose()
    assert _driver(app) is not driver
    assert second.closed


def test_more_threads_than_the_pool_holds_still_run(app):
    """Threads beyond the pool's size check a connection out per call."""
    results: list[str] = []
    barrier = threading.Barrier(8)

    def call() -> None:
        barrier.wait(5)
        for _ in range(5):
            with app.transaction(read_only=True) as tx:
                results.append(tx.connection.exec_driver_sql("SELECT 'ok'").scalar_one())

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["ok"] * 40
    assert _checked_out(app) <= app.engine.pool.size() + 1  # type: ignore[attr-defined]


def test_a_rollback_through_ctx_db_aborts_the_call_and_keeps_nothing(app):
    rows = sa.Table("held_rows", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True))
    with app.transaction() as tx:
        rows.create(tx.connection)

    @app.mutation(name="held.add_then_roll_back")
    def add_then_roll_back(ctx: tq.MutationContext) -> None:
        ctx.db.execute(rows.insert().values(id=1))
        ctx.db.rollback()
        ctx.db.execute(rows.insert().values(id=2))  # a new transaction on the same connection

    @app.mutation(name="held.add")
    def add(ctx: tq.MutationContext, id: int) -> None:
        ctx.db.execute(rows.insert().values(id=id))

    with pytest.raises(tq.TransactionAbortedError):
        app.run_mutation(add_then_roll_back)
    app.run_mutation(add, id=3)
    with app.transaction(read_only=True) as tx:
        assert tx.connection.execute(sa.select(rows.c.id)).scalars().all() == [3]
