"""benchmarks/queues.py still runs: a small `available_for` and the three kinds of start."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent.parent / "benchmarks" / "queues.py"


@pytest.mark.timeout(120)
def test_a_small_run_measures_the_queue_and_the_starts():
    spec = importlib.util.spec_from_file_location("queues_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench
    try:
        spec.loader.exec_module(bench)
        result = bench.main(["--items", "1000", "--starts", "100", "--rounds", "1", "--runs", "5"])
    finally:
        sys.modules.pop(spec.name, None)
    queue, starts = result["available_for"], result["start"]
    assert queue["open_work_items"] == 1000 and queue["page"] > 0
    assert any("COVERING INDEX ix_tasquencer_work_item_offers_audience" in s for s in queue["plan"])
    assert any("MERGE (UNION ALL)" in s for s in queue["plan"])
    assert min(starts["plain_us"], starts["policy_us"], starts["claim_us"]) > 0
