"""The PostgreSQL benchmark counts what a call really sends and the server answers."""

from __future__ import annotations

from types import ModuleType

import pytest

import tasquencer as tq
from tests.helpers import auto_task, load_benchmark


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark("postgres")


@pytest.mark.postgres_only
def test_a_call_commits_once_on_the_wire_and_a_read_commits_too(bench, database_url, tmp_path):
    app = tq.App(database_url)
    try:
        workflow = (
            tq.Builder.workflow("one")
            .start_condition("start")
            .end_condition("end")
            .task("a", auto_task())
            .connect_condition("start", lambda to: to.task("a"))
            .connect_task("a", lambda to: to.condition("end"))
        )
        api = app.register(tq.versions("one").version("v1", workflow)).api("v1")
        wire = bench.Wire(app.engine, tmp_path)
        with wire.traced():
            workflow_id = api.internal_initialize_root_workflow()
            (item,) = api.list_work_items(workflow_id)
            api.internal_complete_work_item(item.id)
            assert api.get_workflow_state(workflow_id) == "completed"
        assert (wire.completed("COMMIT"), wire.completed("ROLLBACK")) == (4, 0)
        # initialize 1 (BEGIN, its writes and COMMIT in one pipeline); each read 2 (BEGIN +
        # SELECT, COMMIT); this completion 4, one more than most: it ends the workflow, whose
        # audit trace's row is updated and its row count read
        assert wire.round_trips() == 1 + 2 + 4 + 2
        assert not list(tmp_path.iterdir())  # the trace file is removed

        with wire.traced():
            api.get_workflow_state(workflow_id)
        assert (wire.round_trips(), wire.completed("COMMIT")) == (2, 1)
    finally:
        app.close()
