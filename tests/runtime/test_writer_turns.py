"""SQLite: the writers of one process take turns on a lock of their own before SQLite's; readers
never wait for them."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import tasquencer as tq
from tasquencer.runtime.failures import is_conflict
from tasquencer.runtime.writers import WriterTurns
from tests.helpers import auto_task, one_task_workflow

THREADS = 8
PER_THREAD = 25


@pytest.fixture
def app(tmp_path: Path):
    app = tq.App(f"sqlite:///{tmp_path / 'turns.db'}")
    yield app
    app.close()


def test_threads_writing_at_once_each_get_their_turn(app):
    api = app.register(
        tq.versions("turns").version("v1", one_task_workflow(auto_task(), "turns"))
    ).api("v1")
    cases = [api.internal_initialize_root_workflow() for _ in range(THREADS * PER_THREAD)]
    items = [api.list_work_items(case)[0].id for case in cases]
    errors: list[BaseException] = []

    def complete(share: list[str]) -> None:
        try:
            for item in share:
                api.internal_complete_work_item(item)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=complete, args=(items[i::THREADS],)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert {api.get_workflow_state(case) for case in cases} == {"completed"}
    assert app.runtime.runner.retries() == {}


@contextlib.contextmanager
def a_writer_in_the_middle_of_its_call(app: tq.App) -> Iterator[None]:
    """Another thread's mutation, holding the writers' turn until the block ends."""
    inside, release = threading.Event(), threading.Event()

    @app.mutation(name="turns.hold")
    def hold(ctx: tq.MutationContext) -> None:
        inside.set()
        release.wait(30)

    writer = threading.Thread(target=lambda: app.run_mutation(hold))
    writer.start()
    try:
        assert inside.wait(30)
        yield
    finally:
        release.set()
        writer.join(30)


def test_a_reader_does_not_wait_for_a_writer_in_the_middle_of_its_call(app):
    api = app.register(
        tq.versions("turns").version("v1", one_task_workflow(auto_task(), "turns"))
    ).api("v1")
    case = api.internal_initialize_root_workflow()
    with a_writer_in_the_middle_of_its_call(app):
        assert api.get_workflow_state(case) == "started"


def test_one_file_has_one_turn_however_its_path_is_spelled(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    absolute = WriterTurns(str(tmp_path / "same.db"), timeout=0.05)
    relative = WriterTurns(os.path.join(".", "same.db"), timeout=0.05)
    other = WriterTurns(str(tmp_path / "other.db"), timeout=0.05)
    turn = absolute.take_turn()
    try:
        with pytest.raises(sqlite3.OperationalError, match="database is locked") as raised:
            relative.take_turn()
        other.take_turn().release()  # another file: its own turn
    finally:
        turn.release()
    relative.take_turn().release()
    # what the driver's busy timeout raises: the runner runs such a call again
    assert is_conflict(raised.value)


def test_without_waiting_a_write_that_would_wait_is_refused_and_changes_nothing(app):
    api = app.register(
        tq.versions("turns").version("v1", one_task_workflow(auto_task(), "turns"))
    ).api("v1")
    case = api.internal_initialize_root_workflow()
    (item,) = api.list_work_items(case)
    with a_writer_in_the_middle_of_its_call(app), app.without_waiting():
        assert api.get_workflow_state(case) == "started"  # a read never waits
        with pytest.raises(tq.WouldWaitError, match="another writer"):
            api.internal_complete_work_item(item.id)
    assert api.get_work_item_state(item.id) == "started"
    with app.without_waiting():  # nobody else writes now: it runs
        api.internal_complete_work_item(item.id)
    assert api.get_workflow_state(case) == "completed"


def test_without_waiting_a_write_locked_out_by_another_process_keeps_its_connection(app, tmp_path):
    api = app.register(
        tq.versions("turns").version("v1", one_task_workflow(auto_task(), "turns"))
    ).api("v1")
    case = api.internal_initialize_root_workflow()
    (item,) = api.list_work_items(case)
    with app.transaction() as tx:
        mine = tx.connection.connection.driver_connection
    other = sqlite3.connect(tmp_path / "turns.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # what another process writing looks like
    try:
        with app.without_waiting(), pytest.raises(tq.WouldWaitError, match="another process"):
            api.internal_complete_work_item(item.id)
    finally:
        other.rollback()
        other.close()
    with app.without_waiting():
        api.internal_complete_work_item(item.id)
    with app.transaction() as tx:
        assert tx.connection.connection.driver_connection is mine
    assert mine.execute("PRAGMA busy_timeout").fetchone() == (30_000,)  # it waits again
    assert api.get_workflow_state(case) == "completed"
