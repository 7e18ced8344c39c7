"""The migration benchmark still runs, and checks every instance it migrates."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "migration.py"


@pytest.mark.timeout(120)
def test_quick_run_migrates_and_compares_with_completions():
    spec = importlib.util.spec_from_file_location("migration_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        (result,) = module.main(["--quick"])
    finally:
        sys.modules.pop(spec.name, None)
    assert result["migration_p50_ms"] > 0 and result["completion_p50_ms"] > 0
    assert result["cpu_ratio"] > 0
