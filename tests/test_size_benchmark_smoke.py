"""The flat-with-size benchmark still runs: it fills the store and times every call kind."""

from __future__ import annotations

import importlib.util
import sqlite3
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "size.py"


def _load():
    spec = importlib.util.spec_from_file_location("size_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_quick_run_compares_every_call_kind():
    module = _load()
    try:
        result = module.main(["--quick", "--rows", "3000"])
    finally:
        sys.modules.pop("size_benchmark", None)
    assert 2900 <= result["rows"] <= 3100
    assert {line["call"] for line in result["lines"]} == set(module.KINDS)
    for line in result["lines"]:
        assert line["empty_cpu_us"] > 0 and line["full_cpu_us"] > 0 and line["cpu_ratio"] > 0


def test_the_fill_copies_whole_instances_the_engine_reads(tmp_path):
    module = _load()
    try:
        store = module.Store(tmp_path / "full.db")
        try:
            rows = module.fill(store, 1000)
            with sqlite3.connect(tmp_path / "full.db") as connection:
                (copy_id,) = connection.execute(
                    "SELECT id FROM tasquencer_workflows ORDER BY id DESC LIMIT 1"
                ).fetchone()
            snapshot = store.api.get_workflow_snapshot(copy_id)
        finally:
            store.close()
    finally:
        sys.modules.pop("size_benchmark", None)
    assert rows >= 900
    assert snapshot.state == "completed"
    assert len(snapshot.tasks) == 10 and len(snapshot.work_items) == 10
    assert all(
        item.state == "completed" and item.workflow_id == copy_id for item in snapshot.work_items
    )
