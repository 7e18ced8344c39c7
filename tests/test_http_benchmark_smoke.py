"""The HTTP benchmark still runs: a server process completes every work item it is sent."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "http_api.py"


def test_quick_run_completes_over_http_and_in_process():
    spec = importlib.util.spec_from_file_location("http_api", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        (result,) = module.main(["--quick", "--clients", "2"])
    finally:
        sys.modules.pop(spec.name, None)
    assert set(result) == {"in_process", "http_1_client", "http_2_clients", "bare_asgi_1_client"}
    for figures in result.values():
        assert figures["per_second"] > 0 and figures["p99_ms"] >= figures["p50_ms"] > 0
        assert figures["cpu_ms"] > 0
