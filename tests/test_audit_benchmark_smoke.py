"""The audit benchmark still runs: it compares completions with audit on and off, and checks
every past state it reconstructs against the snapshot taken then."""

from __future__ import annotations

import pytest

from tests.helpers import load_benchmark


@pytest.mark.timeout(120)
def test_quick_run_compares_audit_on_and_off_and_travels_in_time():
    completions, travel = load_benchmark("audit").main(["--quick"])

    assert completions["off_ms"] > 0 and completions["on_ms"] > 0
    assert completions["cpu_ratio"] > 0
    assert travel["spans"] > 600 and travel["state_at_p50_ms"] > 0
