"""CPU per read on SQLite, next to a bare stdlib `sqlite3` SELECT of the same rows, in one run.

    .venv/bin/python benchmarks/reads.py            # 2,000 calls per read, 5 rounds
    .venv/bin/python benchmarks/reads.py --quick    # what the smoke test runs

One 10-task instance (`seq10` of engine_vs_peers.py, half-way: 5 work items completed, one
initialized) in a fresh database, synchronous=OFF. Each measurement is `time.process_time`
over `--calls` calls, after a few untimed ones. Measured, in this order in every round:

- each facade read (`list_work_items`, `get_workflow_state`, `get_workflow_snapshot`,
  `get_work_item`, `get_work_item_state`, `get_workflow_task_states`), each in a read
  transaction of its own as a client calls it;
- `bare sqlite3 ...`: the stdlib driver on its own connection, `execute(...).fetchall()` of the
  rows the read returns (for a snapshot: the instance row, its tasks, conditions, work items,
  child workflows and migration links);
- the transaction shell: `with app.transaction(read_only=True)` and `with app.transaction()`
  running nothing, next to the bare driver's `BEGIN; ROLLBACK` and `BEGIN IMMEDIATE; COMMIT`.

Rounds take turns so that a busy moment of the machine weighs on every measurement alike; the
table gives each one's best round (the least disturbed) and the spread over rounds, and each
ratio is taken within a round and its median over rounds is shown. Goals: each read under
60 µs of CPU and at most 3x its bare SELECT.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import tasquencer as tq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_vs_peers import build_workflow

GOAL_US = 60.0
GOAL_RATIO = 3.0
DONE = 5  # work items completed before measuring
ITEM_COLUMNS = "id, name, state, task_name, task_generation, workflow_id"


class Instance:
    """A half-way seq10 instance and a bare driver connection on the same file."""

    def __init__(self, path: Path) -> None:
        self.ids: list[str] = []
        self.app = tq.App(f"sqlite:///{path}", sqlite_synchronous="OFF")
        definition = build_workflow("seq10", self.ids, auto_start=True)
        self.api = self.app.register(tq.versions("seq10").version("v1", definition)).api("v1")
        self.workflow_id = self.api.internal_initialize_root_workflow()
        for _ in range(DONE):
            self.api.internal_complete_work_item(self.ids.pop(0))
        (self.work_item_id,) = self.ids
        self.bare = sqlite3.connect(path, isolation_level=None)

    def close(self) -> None:
        self.bare.close()
        self.app.close()

    def reads(self) -> dict[str, tuple[Callable[[], object], Callable[[], object]]]:
        """Each read, and the bare SELECT of the same rows."""
        api, wid, iid = self.api, self.workflow_id, self.work_item_id
        return {
            "list_work_items": (lambda: api.list_work_items(wid), self._bare_items),
            "get_workflow_state": (lambda: api.get_workflow_state(wid), self._bare_state),
            "get_workflow_snapshot": (
                lambda: api.get_workflow_snapshot(wid),
                self._bare_snapshot,
            ),
            "get_work_item": (lambda: api.get_work_item(iid), self._bare_item),
            "get_work_item_state": (lambda: api.get_work_item_state(iid), self._bare_item_state),
            "get_workflow_task_states": (
                lambda: api.get_workflow_task_states(wid),
                self._bare_tasks,
            ),
        }

    def shells(self) -> dict[str, tuple[Callable[[], object], Callable[[], object]]]:
        """A read and a write transaction that run nothing, and the bare driver's."""
        return {
            "transaction(read_only=True)": (self._read_shell, self._bare_read_shell),
            "transaction()": (self._write_shell, self._bare_write_shell),
        }

    def _read_shell(self) -> None:
        with self.app.transaction(read_only=True):
            pass

    def _write_shell(self) -> None:
        with self.app.transaction():
            pass

    def _bare_read_shell(self) -> None:
        self.bare.execute("BEGIN")
        self.bare.execute("ROLLBACK")

    def _bare_write_shell(self) -> None:
        self.bare.execute("BEGIN IMMEDIATE")
        self.bare.execute("COMMIT")

    def _all(self, sql: str, *params: object) -> list[Any]:
        return self.bare.execute(sql, params).fetchall()

    def _bare_items(self) -> object:
        return self._all(
            f"SELECT {ITEM_COLUMNS} FROM tasquencer_work_items WHERE workflow_id = ? ORDER BY id",
            self.workflow_id,
        )

    def _bare_state(self) -> object:
        return self._all("SELECT state FROM tasquencer_workflows WHERE id = ?", self.workflow_id)

    def _bare_item(self) -> object:
        return self._all(
            f"SELECT {ITEM_COLUMNS} FROM tasquencer_work_items WHERE id = ?", self.work_item_id
        )

    def _bare_item_state(self) -> object:
        return self._all("SELECT state FROM tasquencer_work_items WHERE id = ?", self.work_item_id)

    def _bare_tasks(self) -> object:
        return self._all(
            "SELECT name, state FROM tasquencer_tasks WHERE workflow_id = ?", self.workflow_id
        )

    def _bare_snapshot(self) -> object:
        wid = self.workflow_id
        return (
            self._all(
                "SELECT name, version_name, state, execution_mode, parent_workflow_id "
                "FROM tasquencer_workflows WHERE id = ?",
                wid,
            ),
            self._all(
                "SELECT name, state, generation FROM tasquencer_tasks WHERE workflow_id = ?", wid
            ),
            self._all("SELECT name, marking FROM tasquencer_conditions WHERE workflow_id = ?", wid),
            self._bare_items(),
            self._all(
                "SELECT id, name, state, parent_task_generation, parent_task_name "
                "FROM tasquencer_workflows WHERE parent_workflow_id = ? ORDER BY id",
                wid,
            ),
            self._all(
                "SELECT from_workflow_id FROM tasquencer_migrations WHERE to_workflow_id = ?",
                wid,
            ),
            self._all(
                "SELECT to_workflow_id FROM tasquencer_migrations WHERE from_workflow_id = ?",
                wid,
            ),
        )


def cpu_us(call: Callable[[], object], calls: int) -> float:
    """CPU µs per call, after a few untimed calls."""
    for _ in range(min(calls, 50)):
        call()
    start = time.process_time()
    for _ in range(calls):
        call()
    return (time.process_time() - start) / calls * 1e6


def measure(instance: Instance, calls: int, rounds: int) -> list[dict[str, Any]]:
    """Per read: µs per round on both sides, and the per-round ratios."""
    pairs = {**instance.reads(), **instance.shells()}
    per_round: dict[str, list[tuple[float, float]]] = {name: [] for name in pairs}
    for _ in range(rounds):
        for name, (ours, bare) in pairs.items():
            per_round[name].append((cpu_us(ours, calls), cpu_us(bare, calls)))
    lines = []
    for name, values in per_round.items():
        ours = [v[0] for v in values]
        bare = [v[1] for v in values]
        ratios = [o / b for o, b in values]
        is_read = name in instance.reads()
        lines.append(
            {
                "measurement": name,
                "cpu_us": round(min(ours), 1),
                "cpu_us_rounds": [round(v, 1) for v in ours],
                "bare_us": round(min(bare), 1),
                "bare_us_rounds": [round(v, 1) for v in bare],
                "ratio": round(statistics.median(ratios), 2),
                "ratio_rounds": [round(r, 2) for r in ratios],
                "goal_met": (min(ours) < GOAL_US and statistics.median(ratios) <= GOAL_RATIO)
                if is_read
                else None,
            }
        )
    return lines


def render(console: Console, lines: list[dict[str, Any]], calls: int, rounds: int) -> None:
    table = Table(title=f"CPU per call, µs: best of {rounds} round(s) of {calls} calls")
    for col in ("measurement", "tasquencer", "rounds", "bare sqlite3", "ratio", "per round"):
        table.add_column(col, justify="left" if col in ("measurement", "rounds") else "right")
    table.add_column("goal (< 60 µs, <= 3x)")
    for line in lines:
        met = line["goal_met"]
        table.add_row(
            line["measurement"],
            f"{line['cpu_us']:.1f}",
            " ".join(f"{v:.0f}" for v in line["cpu_us_rounds"]),
            f"{line['bare_us']:.1f}",
            f"{line['ratio']:.2f}",
            " ".join(f"{r:.1f}" for r in line["ratio_rounds"]),
            "" if met is None else "[green]yes[/]" if met else "[red]no[/]",
        )
    console.print(table)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--calls", type=int, default=None, help="calls per measurement (2000)")
    ap.add_argument("--rounds", type=int, default=None, help="rounds (5)")
    ap.add_argument("--quick", action="store_true", help="a few calls, one round (smoke test)")
    ap.add_argument("--no-json", dest="json_lines", action="store_false", help="table only")
    args = ap.parse_args(argv)
    args.calls = args.calls if args.calls is not None else (20 if args.quick else 2000)
    args.rounds = args.rounds if args.rounds is not None else (1 if args.quick else 5)
    if args.calls < 1 or args.rounds < 1:
        ap.error("--calls and --rounds must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tq-reads-") as folder:
        instance = Instance(Path(folder) / "reads.db")
        try:
            lines = measure(instance, args.calls, args.rounds)
        finally:
            instance.close()
    if args.json_lines:
        for line in lines:
            print(json.dumps(line), flush=True)
    render(Console(width=max(Console().width, 120)), lines, args.calls, args.rounds)
    return lines


if __name__ == "__main__":
    main()
