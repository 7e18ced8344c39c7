"""Flat with size: the cost of a call with about a million engine rows in the store, next to an
empty store, in one run.

    .venv/bin/python benchmarks/size.py                 # 1,000,000 rows, 5 rounds
    .venv/bin/python benchmarks/size.py --quick         # what the smoke test runs

Two SQLite files (synchronous=OFF, so that CPU and the storage's structure are measured, not
fsync): `empty` holds the schema only; `full` is filled first with `--rows` engine rows, copies
of the rows a completed `seq10` instance (engine_vs_peers.py) leaves in every engine table
(workflow, tasks, conditions, work items, task log, stats: about 70 rows an instance) under new
ids, inserted in bulk with the stdlib driver. Then, in each round, on both files in turn, a
stateless client (the `tq client` driver of engine_vs_peers.py) runs `--n` new instances to
the end, each call timed for CPU (`time.process_time`) and wall clock: initialize,
`list_work_items`, `internal_complete_work_item`, `get_workflow_state`, and a
`get_workflow_snapshot` after each completion. Reported per call kind: µs per call on each
store (best round) and the ratio full / empty taken within each round, with its median; the
goal is within 10% (a ratio <= 1.1). `tests/test_query_plans.py` checks the reason it should
hold: no hot statement scans a table.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import tasquencer as tq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_vs_peers import build_workflow

GOAL_RATIO = 1.1
# The engine's per-instance tables, each with the column naming its instance.
TABLES = {
    "tasquencer_workflows": "id",
    "tasquencer_tasks": "workflow_id",
    "tasquencer_conditions": "workflow_id",
    "tasquencer_work_items": "workflow_id",
    "tasquencer_task_log": "workflow_id",
    "tasquencer_task_stats": "workflow_id",
}
KINDS = ("initialize", "list_work_items", "complete", "snapshot", "get_workflow_state")


class Store:
    """An app on one file, driven as a client; `timings` collects (CPU, wall) per call kind."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.app = tq.App(f"sqlite:///{path}", sqlite_synchronous="OFF")
        definition = build_workflow("seq10", [], auto_start=True)
        self.api = self.app.register(tq.versions("seq10").version("v1", definition)).api("v1")

    def close(self) -> None:
        self.app.close()

    def run(self, n: int) -> dict[str, list[tuple[float, float]]]:
        """n instances to the end; (CPU, wall) seconds of every call, by kind."""
        api = self.api
        timings: dict[str, list[tuple[float, float]]] = defaultdict(list)

        def timed(kind: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            cpu, wall = time.process_time(), time.perf_counter()
            result = call(*args, **kwargs)
            timings[kind].append((time.process_time() - cpu, time.perf_counter() - wall))
            return result

        for _ in range(n):
            workflow_id = timed("initialize", api.internal_initialize_root_workflow)
            while items := timed(
                "list_work_items", api.list_work_items, workflow_id, state="started"
            ):
                for item in items:
                    timed("complete", api.internal_complete_work_item, item.id)
                    timed("snapshot", api.get_workflow_snapshot, workflow_id)
            state = timed("get_workflow_state", api.get_workflow_state, workflow_id)
            assert state == "completed", f"instance {workflow_id} ended {state!r}"
        return timings


def fill(store: Store, rows: int) -> int:
    """Copies of a completed instance's rows, under new ids, until `rows` rows are in; returns
    the number of rows in the engine's tables."""
    template_id = store.api.internal_initialize_root_workflow()
    while items := store.api.list_work_items(template_id, state="started"):
        for item in items:
            store.api.internal_complete_work_item(item.id)
    connection = sqlite3.connect(store.path, isolation_level=None)
    try:
        template = {
            table: connection.execute(
                f"SELECT * FROM {table} WHERE {column} = ?", (template_id,)
            ).fetchall()
            for table, column in TABLES.items()
        }
        item_ids = [r[0] for r in template["tasquencer_work_items"]]
        per_instance = sum(len(r) for r in template.values())
        connection.execute("BEGIN")
        for copy in range(max(0, rows // per_instance - 1)):
            ids = {old: _copy_id(old, k, copy) for k, old in enumerate((template_id, *item_ids))}
            for table, table_rows in template.items():
                marks = ", ".join("?" * len(table_rows[0]))
                connection.executemany(
                    f"INSERT INTO {table} VALUES ({marks})",
                    [
                        tuple(ids.get(v, v) if isinstance(v, str) else v for v in r)
                        for r in table_rows
                    ],
                )
        connection.execute("COMMIT")
        connection.execute("ANALYZE")
        return sum(
            connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TABLES
        )
    finally:
        connection.close()


def _copy_id(template: str, element: int, copy: int) -> str:
    """A template's id with its random tail replaced: same length, same time prefix."""
    tail = f"Z{element:02X}{copy:07X}"
    return template[: -len(tail)] + tail


def measure(empty: Store, full: Store, n: int, rounds: int) -> list[dict[str, Any]]:
    per_round: dict[str, dict[str, list[tuple[float, float]]]] = {
        kind: {"empty": [], "full": []} for kind in KINDS
    }
    empty.run(2)  # compile the statements, warm the caches; not timed
    full.run(2)
    for _ in range(rounds):
        for name, store in (("empty", empty), ("full", full)):
            for kind, calls in store.run(n).items():
                cpu = statistics.fmean(c for c, _ in calls) * 1e6
                wall = statistics.fmean(w for _, w in calls) * 1e6
                per_round[kind][name].append((cpu, wall))
    lines = []
    for kind, sides in per_round.items():
        cpu_ratios = [f[0] / e[0] for e, f in zip(sides["empty"], sides["full"], strict=True)]
        wall_ratios = [f[1] / e[1] for e, f in zip(sides["empty"], sides["full"], strict=True)]
        lines.append(
            {
                "call": kind,
                "empty_cpu_us": round(min(c for c, _ in sides["empty"]), 1),
                "full_cpu_us": round(min(c for c, _ in sides["full"]), 1),
                "cpu_ratio": round(statistics.median(cpu_ratios), 3),
                "cpu_ratio_rounds": [round(r, 2) for r in cpu_ratios],
                "empty_wall_us": round(min(w for _, w in sides["empty"]), 1),
                "full_wall_us": round(min(w for _, w in sides["full"]), 1),
                "wall_ratio": round(statistics.median(wall_ratios), 3),
                "wall_ratio_rounds": [round(r, 2) for r in wall_ratios],
                "goal_met": statistics.median(cpu_ratios) <= GOAL_RATIO
                and statistics.median(wall_ratios) <= GOAL_RATIO,
            }
        )
    return lines


def render(console: Console, lines: list[dict[str, Any]], rows: int, args: Any) -> None:
    title = (
        f"per call, µs: empty store vs {rows:,} engine rows; {args.n} instances a round, "
        f"best of {args.rounds} round(s), ratios full/empty per round (median)"
    )
    table = Table(title=title)
    columns = ("call", "CPU empty", "CPU full", "CPU ratio", "per round")
    for col in (*columns, "wall empty", "wall full", "wall ratio", "per round ", "<= 1.1"):
        table.add_column(col, justify="left" if col == "call" else "right")
    for line in lines:
        table.add_row(
            line["call"],
            f"{line['empty_cpu_us']:.1f}",
            f"{line['full_cpu_us']:.1f}",
            f"{line['cpu_ratio']:.2f}",
            " ".join(f"{r:.2f}" for r in line["cpu_ratio_rounds"]),
            f"{line['empty_wall_us']:.1f}",
            f"{line['full_wall_us']:.1f}",
            f"{line['wall_ratio']:.2f}",
            " ".join(f"{r:.2f}" for r in line["wall_ratio_rounds"]),
            "[green]yes[/]" if line["goal_met"] else "[red]no[/]",
        )
    console.print(table)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--rows", type=int, default=None, help="engine rows in the full store (1e6)")
    ap.add_argument("--n", type=int, default=None, help="instances per store and round (30)")
    ap.add_argument("--rounds", type=int, default=None, help="rounds (5)")
    ap.add_argument("--quick", action="store_true", help="a small store, one round (smoke test)")
    ap.add_argument("--no-json", dest="json_lines", action="store_false", help="table only")
    args = ap.parse_args(argv)
    args.rows = args.rows if args.rows is not None else (2000 if args.quick else 1_000_000)
    args.n = args.n if args.n is not None else (2 if args.quick else 30)
    args.rounds = args.rounds if args.rounds is not None else (1 if args.quick else 5)
    if args.rows < 0 or args.n < 1 or args.rounds < 1:
        ap.error("--n and --rounds must be positive, --rows non-negative")
    return args


def _stores(folder: Path) -> Iterator[Store]:
    for name in ("empty", "full"):
        yield Store(folder / f"{name}.db")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    console = Console(width=max(Console().width, 140))
    with tempfile.TemporaryDirectory(prefix="tq-size-") as folder:
        empty, full = _stores(Path(folder))
        try:
            started = time.perf_counter()
            rows = fill(full, args.rows)
            console.print(f"filled: {rows:,} engine rows in {time.perf_counter() - started:.1f} s")
            lines = measure(empty, full, args.n, args.rounds)
        finally:
            empty.close()
            full.close()
    if args.json_lines:
        for line in lines:
            print(json.dumps({**line, "rows": rows}), flush=True)
    render(console, lines, rows, args)
    return {"rows": rows, "lines": lines}


if __name__ == "__main__":
    main()
