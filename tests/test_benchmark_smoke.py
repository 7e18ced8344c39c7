"""The benchmark harness still runs: `--quick --no-peers` with a tiny n, and `--profile`."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "engine_vs_peers.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("engine_vs_peers", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(spec.name, None)
    return module


def test_quick_run_measures_every_workload(bench, capsys):
    result = bench.main(["--quick", "--no-peers", "--n", "2", "--commits", "5", "--warmup", "0"])

    (only_round,) = result["rounds"]
    expected = {
        (name, key)
        for w in bench.WORKLOADS
        for name, key in [
            ("commit sqlite3", f"@{w}"),
            ("commit sqlalchemy", f"@{w}"),
            ("tq", w),
            ("tq client", w),
            ("tq client answers", w),
            ("tq start+complete", w),
        ]
    }
    assert set(only_round) == expected
    for (name, workload), line in only_round.items():
        if name.startswith("tq"):
            assert line["n"] == 2
            assert line["items"] == 2 * bench.EXPECTED_ITEMS[workload]
            assert line["inst_per_s"] > 0
            assert line["journal_mode"] == "wal"
            assert line["synchronous"] == 2  # FULL
            if name == "tq client":  # a read per step, one more at the end
                assert line["reads_per_instance"] >= EXPECTED_STEPS[workload] + 1
                assert line["read_p50_ms"] > 0
            if name == "tq client answers":  # one read to begin with, one at the end
                assert line["reads_per_instance"] == 2
        else:
            assert line["items"] == 5
        assert 0 < line["p50_ms"] <= line["p99_ms"]
    ratio_names = {(r["ratio"], r["workload"]) for r in result["ratios"]}
    assert ("tq p50 completion / commit sqlite3 p50", "or10") in ratio_names
    assert ("tq client p50 completion / commit sqlite3 p50", "seq10") in ratio_names

    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert sum(1 for x in lines if x.get("round") == 1) == len(expected)
    assert sum(1 for x in lines if x.get("round") == "median") == len(expected)


# Steps of a client (reads that find started work items): seq10 one per task; and10 and or10
# find all the parallel tasks' work items started at once.
EXPECTED_STEPS = {"seq10": 10, "and10": 1, "or10": 1}


def test_peers_need_a_folder_given(bench):
    with pytest.raises(SystemExit, match="--peers-dir"):
        bench.main(["--quick", "--n", "1"])


def test_profile_prints_the_top_functions(bench, capsys):
    bench.main(["--profile", "or10", "--n", "2"])
    out = capsys.readouterr().out
    assert "synchronous=OFF" in out
    assert "tottime" in out


def test_a_workflow_that_does_not_complete_is_caught(bench, tmp_path):
    run = bench.TqRun("seq10", tmp_path / "app.db", auto_start=True)
    try:
        wid = run.api.internal_initialize_root_workflow()  # left running
        with pytest.raises(AssertionError, match="ended 'started'"):
            run.check([wid], 1, bench.EXPECTED_ITEMS["seq10"])
    finally:
        run.close()
