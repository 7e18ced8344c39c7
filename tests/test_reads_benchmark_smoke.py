"""The read-CPU benchmark still runs: every read measured next to its bare SELECT."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "reads.py"
READS = {
    "list_work_items",
    "get_workflow_state",
    "get_workflow_snapshot",
    "get_work_item",
    "get_work_item_state",
    "get_workflow_task_states",
}


def test_quick_run_measures_every_read_and_the_shell():
    spec = importlib.util.spec_from_file_location("reads_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        lines = module.main(["--quick", "--rounds", "2"])
    finally:
        sys.modules.pop(spec.name, None)
    by_name = {line["measurement"]: line for line in lines}
    assert set(by_name) == READS | {"transaction(read_only=True)", "transaction()"}
    for name, line in by_name.items():
        assert line["cpu_us"] > 0 and line["bare_us"] > 0
        assert len(line["ratio_rounds"]) == 2
        assert (line["goal_met"] is None) == (name not in READS)
