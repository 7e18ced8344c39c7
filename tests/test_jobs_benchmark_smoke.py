"""The jobs benchmark still runs: `--quick` measures throughput of both kinds and lateness."""

from __future__ import annotations

import json
from types import ModuleType

import pytest

from tests.helpers import load_benchmark


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark("jobs")


@pytest.mark.timeout(60)
def test_quick_run_measures_throughput_and_lateness(bench, capsys):
    result = bench.main(["--quick"])

    quick = bench.QUICK
    assert set(result["throughput"]) == {"mutation", "action"}
    for kind, line in result["throughput"].items():
        assert line["measurement"] == f"throughput {kind}"
        assert line["n"] == quick["n"]
        assert line["jobs_per_s"] > 0
        assert line["journal_mode"] == "wal"
        assert line["synchronous"] == 2  # FULL
    lateness = result["lateness"]
    assert lateness["m"] == quick["m"]
    assert lateness["early"] == 0  # no job ran before its run_at
    assert 0 <= lateness["min_ms"] <= lateness["p50_ms"] <= lateness["p99_ms"] <= lateness["max_ms"]
    # a worker that only noticed timers on its 1 s poll would be ~500 ms late on average
    assert lateness["p50_ms"] < 250

    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert [x["measurement"] for x in lines] == [
        "throughput mutation",
        "throughput action",
        "lateness",
    ]


def test_options_are_checked(bench):
    args = bench.parse_args(["--n", "7", "--m", "3", "--spread", "0.5"])
    assert (args.n, args.m, args.spread, args.poll) == (7, 3, 0.5, 1.0)
    quick = bench.parse_args(["--quick", "--n", "9"])
    assert (quick.n, quick.m) == (9, bench.QUICK["m"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--n", "0"])
