"""The PostgreSQL benchmark counts the transactions a call really ends on the server."""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

import tasquencer as tq
from tests.helpers import auto_task

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "postgres.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("postgres_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(spec.name, None)
    return module


@pytest.mark.postgres_only
def test_one_commit_per_mutation_call_and_one_rollback_per_read(bench, database_url):
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
        counts: Counter[str] = Counter()
        bench.count_transactions(app.engine, lambda what: counts.update([what]))
        workflow_id = api.internal_initialize_root_workflow()
        (item,) = api.list_work_items(workflow_id)
        api.internal_complete_work_item(item.id)
        assert api.get_workflow_state(workflow_id) == "completed"
    finally:
        app.close()
    assert counts == Counter(commits=2, rollbacks=2)
