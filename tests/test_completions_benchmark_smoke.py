"""The completions benchmark still runs: both trees measured in subprocesses, ratios reported."""

from __future__ import annotations

from types import ModuleType

import pytest

from tests.helpers import BENCHMARKS, load_benchmark

ROOT = BENCHMARKS.parent


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark("completions")


def test_quick_run_against_a_baseline_tree(bench):
    baseline = ["--baseline-src", str(ROOT / "src")]
    result = bench.main(["--quick", "--workloads", "seq10,or50", "--synchronous", "OFF", *baseline])
    rows = result["rows"]
    assert set(rows) == {(side, w, "OFF") for side in ("this", "base") for w in ("seq10", "or50")}
    for (_, workload, _), (line,) in rows.items():
        assert line["n"] == 3
        assert line["tasquencer"] == str(ROOT / "src")
        per_instance = bench.EXPECTED_ITEMS.get(workload)
        if per_instance is not None:
            assert line["completions"] == 3 * per_instance
        assert line["complete_us"] > 0 and line["initialize_us"] > 0
        assert line["calls"] > 50  # a completion is a cascade of engine calls
    # The same tree on both sides: the same calls per completion, whatever the CPU did. (Not
    # or50: each instance draws its branches from its own id, so two runs differ.)
    for workload in ("seq10",):
        this, base = rows[("this", workload, "OFF")][0], rows[("base", workload, "OFF")][0]
        assert this["calls"] == pytest.approx(base["calls"], rel=0.05)
    assert any("calls" in x and "base/this" in x for x in result["report"])


def test_a_baseline_that_is_not_a_source_tree_is_refused(bench, tmp_path):
    with pytest.raises(RuntimeError, match="expected tasquencer from"):
        bench.in_subprocess(tmp_path, "seq10", "OFF", 1, 0)


def test_profile_counts_calls_per_completion(bench, capsys):
    bench.main(["--profile", "and10", "--n", "2"])
    out = capsys.readouterr().out
    assert "and10, synchronous=OFF: 20 completions" in out
    assert "function calls per completion" in out
    assert "tottime" in out
