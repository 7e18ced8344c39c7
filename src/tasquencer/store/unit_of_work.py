"""The engine's rows for one call: loaded once, changed in memory, written in batches.

A workflow step touches the same few rows many times (a task is enabled then started, a
condition gains a token and loses it). The unit of work keeps one object per row, reads each at
most once per call and, on `flush`, writes only the rows whose values changed, one batched
statement per table. The engine flushes before anything else reads the database in the same
transaction (user queries through `ctx.db`, API reads, the end of the call).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from tasquencer.store import jobs as job_statements
from tasquencer.store import statements as st
from tasquencer.store.rows import STAT_FIELDS, TaskRow, WorkflowRow, WorkItemRow
from tasquencer.store.sql import Db, Dialect, Statement

GenerationKey = tuple[str, str, int]
Counters = list[int]

_STAT_INDEX = {name: i for i, name in enumerate(STAT_FIELDS)}
# Where the workflow's and the stats' columns start in a row of `SELECT_WORK_ITEM`.
_WORKFLOW_AT = len(st.WORK_ITEM_COLUMNS)
_STATS_AT = _WORKFLOW_AT + len(st.WORKFLOW_COLUMNS)
_ZEROS = [0] * len(STAT_FIELDS)


class UnitOfWork:
    def __init__(self, db: Db, on_tree: Callable[[str], None] | None = None) -> None:
        self.db = db
        # Called with the root id of each existing workflow tree the call first reads.
        self._on_tree = on_tree
        self._workflows: dict[str, WorkflowRow] = {}
        self._tasks: dict[str, dict[str, TaskRow]] = {}
        self._markings: dict[str, dict[str, int]] = {}
        self._saved_markings: dict[str, dict[str, int]] = {}
        self._work_items: dict[str, WorkItemRow] = {}
        # Work items this call created, in the order it did (what a work item command answers).
        self.created_work_items: list[WorkItemRow] = []
        self._generation_items: dict[GenerationKey, list[WorkItemRow]] = {}
        self._generation_children: dict[GenerationKey, list[WorkflowRow]] = {}
        self._stats: dict[GenerationKey, dict[int, Counters]] = {}
        self._saved_stats: dict[GenerationKey, dict[int, tuple[int, ...]]] = {}
        self._task_log: list[dict[str, Any]] = []
        self._migrations: list[dict[str, Any]] = []
        # Per migrated root: (from workflow id, its name, its version), read once.
        self._migrated_from: dict[str, tuple[str, str, str] | None] = {}
        self._cancels: list[dict[str, Any]] = []
        # PostgreSQL: a work item's instance rows are read with it (a round trip saved) and
        # kept here, by workflow id, until the instance is first needed.
        self._prefetch = db.dialect.name == "postgresql"
        self._prefetched: dict[str, list[tuple[Any, ...]]] = {}
        # Ids of the tied jobs this call canceled (on PostgreSQL applied once it commits).
        self.canceled_jobs: list[str] = []
        # Rows changed since the last flush (by identity).
        self._touched: dict[int, Any] = {}
        # Per workflow, the conditions whose marking changed (a dict: in the order they did).
        self._touched_markings: dict[str, dict[str, None]] = {}
        self._touched_stats: set[GenerationKey] = set()
        # Root workflow ids of every tree this call has read or written.
        self.roots: set[str] = set()

    @property
    def dialect(self) -> Dialect:
        return self.db.dialect

    # --- workflows -----------------------------------------------------------------------

    def workflow(self, workflow_id: str) -> WorkflowRow | None:
        row = self._workflows.get(workflow_id)
        if row is None:
            found = self.db.one(st.SELECT_WORKFLOW, {"id": workflow_id})
            if found is None:
                return None
            row = self._workflow_from(found)
            self._saw_tree(row.root_workflow_id)
        return row

    def add_instance(
        self, workflow: WorkflowRow, tasks: Iterable[TaskRow], marking: dict[str, int]
    ) -> None:
        """Register a new workflow with its task and condition rows (inserted at flush)."""
        self._workflows[workflow.id] = workflow
        self.roots.add(workflow.root_workflow_id)
        self._tasks[workflow.id] = task_rows = {t.name: t for t in tasks}
        self._markings[workflow.id] = marking
        self.touch(workflow)
        for task in task_rows.values():
            self.touch(task)
        self._touched_markings[workflow.id] = {}  # new: every condition is inserted
        if workflow.parent_workflow_id is not None:
            key = (
                workflow.parent_workflow_id,
                workflow.parent_task_name or "",
                workflow.parent_task_generation or 0,
            )
            children = self._generation_children.get(key)
            if children is not None:
                children.append(workflow)

    def tasks(self, workflow_id: str) -> dict[str, TaskRow]:
        tasks = self._tasks.get(workflow_id)
        if tasks is None:
            self._load_instance(workflow_id)
            tasks = self._tasks[workflow_id]
        return tasks

    def touch(self, row: Any) -> None:
        """Note that a row's values changed (or that it is new): the next flush writes it."""
        self._touched[id(row)] = row

    def touch_marking(self, workflow_id: str, condition: str) -> None:
        """Note that a condition's marking changed: the next flush writes it if it differs."""
        self._touched_markings.setdefault(workflow_id, {})[condition] = None

    def marking(self, workflow_id: str) -> dict[str, int]:
        """The live marking of a workflow instance; change it in place, then `touch_marking`."""
        marking = self._markings.get(workflow_id)
        if marking is None:
            self._load_instance(workflow_id)
            marking = self._markings[workflow_id]
        return marking

    def generation_children(
        self, workflow_id: str, task: str, generation: int
    ) -> list[WorkflowRow]:
        """Child workflows of one composite task generation, oldest first."""
        key = (workflow_id, task, generation)
        children = self._generation_children.get(key)
        if children is None:
            self.flush()
            rows = self.db.all(
                st.SELECT_GENERATION_CHILDREN,
                {"workflow_id": workflow_id, "task_name": task, "generation": generation},
            )
            children = self._generation_children[key] = [self._workflow_from(r) for r in rows]
        return children

    # --- work items ----------------------------------------------------------------------

    def work_item(self, work_item_id: str) -> WorkItemRow | None:
        row = self._work_items.get(work_item_id)
        if row is None:
            params = {"id": work_item_id}
            instance = None
            if self._prefetch:
                found, instance = self.db.all_together(
                    st.SELECT_WORK_ITEM, params, st.SELECT_INSTANCE_OF_WORK_ITEM, params
                )
            else:
                found = self.db.all(st.SELECT_WORK_ITEM, params)
            if not found:
                return None
            row = self._work_item_from(found[0])
            if instance is not None and row.workflow_id not in self._tasks:
                self._prefetched[row.workflow_id] = instance
            self._workflow_from(found[0][_WORKFLOW_AT:_STATS_AT])
            key = (row.workflow_id, row.task_name, row.task_generation)
            if key not in self._stats:
                self._keep_stats(key, [r[_STATS_AT:] for r in found if r[_STATS_AT] is not None])
            self._saw_tree(row.root_workflow_id)
        return row

    def _saw_tree(self, root: str) -> None:
        if root not in self.roots:
            if self._on_tree is not None:
                self._on_tree(root)
            self.roots.add(root)

    def add_work_item(self, row: WorkItemRow) -> None:
        self._work_items[row.id] = row
        self.created_work_items.append(row)
        self.touch(row)
        items = self._generation_items.get((row.workflow_id, row.task_name, row.task_generation))
        if items is not None:
            items.append(row)

    def generation_work_items(
        self, workflow_id: str, task: str, generation: int
    ) -> list[WorkItemRow]:
        """Work items of one task generation, oldest first."""
        key = (workflow_id, task, generation)
        items = self._generation_items.get(key)
        if items is None:
            self.flush()
            rows = self.db.all(
                st.SELECT_GENERATION_WORK_ITEMS,
                {"workflow_id": workflow_id, "task_name": task, "generation": generation},
            )
            items = self._generation_items[key] = [self._work_item_from(r) for r in rows]
        return items

    # --- task generations ----------------------------------------------------------------

    def open_generation(self, workflow_id: str, task: str, generation: int) -> None:
        """Note that a task generation was just created: it has no children and no stats yet."""
        key = (workflow_id, task, generation)
        self._generation_items[key] = []
        self._generation_children[key] = []
        self._stats[key] = {}
        self._saved_stats[key] = {}

    def log_task(self, workflow_id: str, task: str, generation: int, state: str, at: Any) -> None:
        self._task_log.append(
            {
                "workflow_id": workflow_id,
                "task_name": task,
                "generation": generation,
                "state": state,
                "at": at,
            }
        )

    def stats(self, workflow_id: str, task: str, generation: int) -> Counters:
        """Counters of one task generation summed over its shards, in `STAT_FIELDS` order."""
        shards = self._shards((workflow_id, task, generation))
        if len(shards) == 1:
            (only,) = shards.values()
            return list(only)
        return [sum(column) for column in zip(*shards.values(), strict=True)] or _ZEROS.copy()

    def count_transition(
        self, key: GenerationKey, shard: int, previous: str | None, current: str
    ) -> None:
        shards = self._shards(key)
        counters = shards.get(shard)
        if counters is None:
            counters = shards[shard] = [0] * len(STAT_FIELDS)
        self._touched_stats.add(key)
        if previous is None:
            counters[0] += 1
        else:
            counters[_STAT_INDEX[previous]] -= 1
        counters[_STAT_INDEX[current]] += 1

    def _shards(self, key: GenerationKey) -> dict[int, Counters]:
        shards = self._stats.get(key)
        if shards is None:
            rows = self.db.all(
                st.SELECT_STATS, {"workflow_id": key[0], "task_name": key[1], "generation": key[2]}
            )
            shards = self._keep_stats(key, rows)
        return shards

    def _keep_stats(
        self, key: GenerationKey, rows: Iterable[tuple[Any, ...]]
    ) -> dict[int, Counters]:
        """Keep the stats rows of a generation as read: (shard, counters...) each."""
        shards = self._stats[key] = {r[0]: list(r[1:]) for r in rows}
        self._saved_stats[key] = {shard: tuple(c) for shard, c in shards.items()}
        return shards

    # --- migrations ----------------------------------------------------------------------

    def record_migration(
        self,
        from_workflow: WorkflowRow,
        to_workflow: WorkflowRow,
        at: Any,
    ) -> None:
        """Link a new root instance to the one it replaces (inserted at flush)."""
        self._migrations.append(
            {
                "to_workflow_id": to_workflow.id,
                "from_workflow_id": from_workflow.id,
                "workflow_name": to_workflow.name,
                "from_version": from_workflow.version_name,
                "to_version": to_workflow.version_name,
                "migrated_at": at,
            }
        )
        self._migrated_from[to_workflow.id] = (
            from_workflow.id,
            from_workflow.name,
            from_workflow.version_name,
        )

    def migrated_from(self, workflow_id: str) -> tuple[str, str, str] | None:
        """(id, name, version) of the instance a migrated root replaced, if it is one."""
        if workflow_id not in self._migrated_from:
            found = self.db.one(st.SELECT_MIGRATION_INTO, {"workflow_id": workflow_id})
            self._migrated_from[workflow_id] = (
                None if found is None else (found[0], found[1], found[2])
            )
        return self._migrated_from[workflow_id]

    # --- jobs ----------------------------------------------------------------------------

    def cancel_jobs(self, job_ids: Iterable[str], at: Any) -> None:
        """Cancel these jobs unless they have started (at the next flush)."""
        self._cancels.extend({"id": job_id, "now": at} for job_id in job_ids)

    # --- nested calls --------------------------------------------------------------------

    def checkpoint(self) -> Checkpoint:
        """What the rows are now, all written (call right after `flush`), so that `restore`
        can bring them back when a nested call is rolled back to its savepoint."""
        assert not (
            self._touched
            or self._touched_markings
            or self._task_log
            or self._migrations
            or self._cancels
        )
        return Checkpoint(
            workflows={i: r.mutable() for i, r in self._workflows.items()},
            tasks={w: {n: r.mutable() for n, r in t.items()} for w, t in self._tasks.items()},
            markings={w: dict(m) for w, m in self._markings.items()},
            saved_markings={w: dict(m) for w, m in self._saved_markings.items()},
            work_items={i: r.mutable() for i, r in self._work_items.items()},
            generation_items={k: len(v) for k, v in self._generation_items.items()},
            generation_children={k: len(v) for k, v in self._generation_children.items()},
            stats={k: {s: list(c) for s, c in v.items()} for k, v in self._stats.items()},
            saved_stats={k: dict(v) for k, v in self._saved_stats.items()},
            roots=set(self.roots),
            canceled_jobs=len(self.canceled_jobs),
            created_work_items=len(self.created_work_items),
        )

    def restore(self, checkpoint: Checkpoint) -> Dropped:
        """Bring every row known at the checkpoint back to its value then, and forget the rows
        read or created since (created ones no longer exist; read ones are read again)."""
        self._prefetched.clear()
        new_workflows = set(self._workflows) - set(checkpoint.workflows)
        new_items = set(self._work_items) - set(checkpoint.work_items)
        new_tasks = set(self._tasks) - set(checkpoint.tasks)
        for workflow_id in new_workflows:
            del self._workflows[workflow_id]
        for workflow_id, values in checkpoint.workflows.items():
            self._workflows[workflow_id].restore(values)
        for workflow_id in new_tasks:
            del self._tasks[workflow_id]
        for workflow_id, rows in checkpoint.tasks.items():
            for name, values in rows.items():
                self._tasks[workflow_id][name].restore(values)
        _restore_dicts(self._markings, checkpoint.markings)
        self._saved_markings = checkpoint.saved_markings
        for item_id in new_items:
            del self._work_items[item_id]
        for item_id, values in checkpoint.work_items.items():
            self._work_items[item_id].restore(values)
        _truncate(self._generation_items, checkpoint.generation_items)
        _truncate(self._generation_children, checkpoint.generation_children)
        _restore_dicts(self._stats, checkpoint.stats)
        self._saved_stats = checkpoint.saved_stats
        self.roots = checkpoint.roots
        self._touched = {}
        self._touched_markings = {}
        self._touched_stats = set()
        self._task_log = []
        self._migrations = []
        self._cancels = []
        del self.canceled_jobs[checkpoint.canceled_jobs :]
        del self.created_work_items[checkpoint.created_work_items :]
        for workflow_id in new_workflows:
            self._migrated_from.pop(workflow_id, None)
        return Dropped(new_workflows, new_items, new_tasks)

    # --- writing -------------------------------------------------------------------------

    def flush(self) -> None:
        """Write every new or changed row, one batched statement per table and kind."""
        if not (
            self._touched
            or self._touched_markings
            or self._task_log
            or self._touched_stats
            or self._migrations
            or self._cancels
        ):
            return
        with self.db.writes():
            if self._touched:
                self._flush_rows()
            if self._touched_markings:
                self._flush_markings()
            if self._task_log:
                time_in = self.db.dialect.time_in
                for entry in self._task_log:
                    entry["at"] = time_in(entry["at"])
                self.db.run_many(st.INSERT_TASK_LOG, self._task_log)
                self._task_log = []
            if self._touched_stats:
                self._flush_stats()
            if self._migrations:
                time_in = self.db.dialect.time_in
                for entry in self._migrations:
                    entry["migrated_at"] = time_in(entry["migrated_at"])
                self.db.run_many(st.INSERT_MIGRATION, self._migrations)
                self._migrations = []
            if self._cancels:
                self.db.run_many(job_statements.CANCEL_TIED_JOB, self._cancels)
                self.canceled_jobs.extend(row["id"] for row in self._cancels)
                self._cancels = []

    def _flush_rows(self) -> None:
        d = self.db.dialect
        batches: dict[Statement, list[dict[str, Any]]] = {}
        for row in self._touched.values():
            current = row.mutable()
            if row.saved == current:
                continue
            statement, params = _write_for(row, d)
            batches.setdefault(statement, []).append(params)
            row.saved = current
        self._touched = {}
        for statement in _WRITE_ORDER:
            rows = batches.get(statement)
            if rows:
                self.db.run_many(statement, rows)

    def _flush_markings(self) -> None:
        new: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        for workflow_id, names in self._touched_markings.items():
            marking = self._markings[workflow_id]
            saved = self._saved_markings.get(workflow_id)
            if saved is None:
                new.extend(
                    {"workflow_id": workflow_id, "name": name, "marking": tokens}
                    for name, tokens in marking.items()
                )
            else:
                changed.extend(
                    {"workflow_id": workflow_id, "name": name, "marking": marking[name]}
                    for name in names
                    if saved[name] != marking[name]
                )
            self._saved_markings[workflow_id] = dict(marking)
        self._touched_markings = {}
        self.db.run_many(st.INSERT_CONDITION, new)
        self.db.run_many(st.UPDATE_CONDITION, changed)

    def _flush_stats(self) -> None:
        changed: list[dict[str, Any]] = []
        for key in self._touched_stats:
            saved = self._saved_stats[key]
            for shard, counters in self._stats[key].items():
                values = tuple(counters)
                before = saved.get(shard)
                if before == values:
                    continue
                params: dict[str, Any] = {
                    "workflow_id": key[0],
                    "task_name": key[1],
                    "generation": key[2],
                    "shard": shard,
                    **dict(zip(STAT_FIELDS, values, strict=True)),
                }
                changed.append(params)
                saved[shard] = values
        self._touched_stats = set()
        self.db.run_many(st.SAVE_STATS, changed)

    # --- decoding ------------------------------------------------------------------------

    def _load_instance(self, workflow_id: str) -> None:
        tasks: dict[str, TaskRow] = {}
        marking: dict[str, int] = {}
        job_ids_out = self.dialect.job_ids_out
        rows = self._prefetched.pop(workflow_id, None)
        if rows is None:
            rows = self.db.all(st.SELECT_INSTANCE, {"workflow_id": workflow_id})
        for kind, name, state, number, mode, jobs_generation, job_ids in rows:
            if kind == 0:
                ids = () if job_ids is None else job_ids_out(job_ids)  # most tie no jobs
                tasks[name] = TaskRow(
                    workflow_id=workflow_id,
                    name=name,
                    state=state,
                    generation=number,
                    execution_mode=mode,
                    jobs_generation=jobs_generation,
                    job_ids=ids,
                    saved=(state, number, jobs_generation, ids),
                )
            else:
                marking[name] = number
        self._tasks[workflow_id] = tasks
        self._markings[workflow_id] = marking
        self._saved_markings[workflow_id] = dict(marking)

    def _workflow_from(self, values: tuple[Any, ...]) -> WorkflowRow:
        known = self._workflows.get(values[0])
        if known is not None:
            return known
        d = self.db.dialect
        row = WorkflowRow(
            id=values[0],
            name=values[1],
            version_name=values[2],
            path=self._path(values[3]),
            root_workflow_id=values[4],
            realized_path=self._path(values[5]),
            parent_workflow_id=values[6],
            parent_task_name=values[7],
            parent_task_generation=values[8],
            state=values[9],
            execution_mode=values[10],
            job_ids=d.job_ids_out(values[11]),
            created_at=None,
            updated_at=None,
        )
        row.saved = row.mutable()
        self._workflows[row.id] = row
        return row

    def _path(self, stored: Any) -> tuple[str, ...]:
        """A stored path: JSON text on SQLite, the same few texts over and over (one per
        definition, `[]` for every root), decoded once each; PostgreSQL's driver decodes."""
        if isinstance(stored, str):
            return _decoded_path(stored)
        return tuple(self.dialect.json_out(stored))

    def _work_item_from(self, values: tuple[Any, ...]) -> WorkItemRow:
        known = self._work_items.get(values[0])
        if known is not None:
            return known
        row = WorkItemRow(
            id=values[0],
            name=values[1],
            workflow_id=values[2],
            root_workflow_id=values[3],
            task_name=values[4],
            task_generation=values[5],
            state=values[6],
            job_ids=self.dialect.job_ids_out(values[7]),
            created_at=None,
            updated_at=None,
        )
        row.saved = row.mutable()
        self._work_items[row.id] = row
        return row


@lru_cache(maxsize=256)
def _decoded_path(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


@dataclass(frozen=True, slots=True)
class Checkpoint:
    workflows: dict[str, tuple[Any, ...]]
    tasks: dict[str, dict[str, tuple[Any, ...]]]
    markings: dict[str, dict[str, int]]
    saved_markings: dict[str, dict[str, int]]
    work_items: dict[str, tuple[Any, ...]]
    generation_items: dict[GenerationKey, int]
    generation_children: dict[GenerationKey, int]
    stats: dict[GenerationKey, dict[int, Counters]]
    saved_stats: dict[GenerationKey, dict[int, tuple[int, ...]]]
    roots: set[str]
    canceled_jobs: int  # how many of `UnitOfWork.canceled_jobs` there were
    created_work_items: int  # how many of `UnitOfWork.created_work_items` there were


@dataclass(frozen=True, slots=True)
class Dropped:
    """What `UnitOfWork.restore` forgot: workflows, work items, and workflows' task rows."""

    workflows: set[str]
    work_items: set[str]
    tasks_of: set[str]


def _restore_dicts(live: dict[Any, Any], saved: dict[Any, Any]) -> None:
    """Put `saved`'s contents back into `live`'s inner dicts, keeping their identity."""
    for key in set(live) - set(saved):
        del live[key]
    for key, values in saved.items():
        inner = live.setdefault(key, {})
        inner.clear()
        inner.update(values)


def _truncate(lists: dict[GenerationKey, list[Any]], lengths: dict[GenerationKey, int]) -> None:
    for key in set(lists) - set(lengths):
        del lists[key]
    for key, length in lengths.items():
        del lists[key][length:]


_WRITE_ORDER = (
    st.INSERT_WORKFLOW,
    st.UPDATE_WORKFLOW,
    st.INSERT_TASK,
    st.UPDATE_TASK,
    st.INSERT_WORK_ITEM,
    st.UPDATE_WORK_ITEM,
)


def _write_for(row: Any, d: Dialect) -> tuple[Statement, dict[str, Any]]:
    """The statement (insert or update) and parameters that save one row."""
    if isinstance(row, TaskRow):
        params = {
            "workflow_id": row.workflow_id,
            "name": row.name,
            "state": row.state,
            "generation": row.generation,
            "jobs_generation": row.jobs_generation,
            "job_ids": d.job_ids_in(row.job_ids),
        }
        if row.saved is None:
            params["execution_mode"] = row.execution_mode
            return st.INSERT_TASK, params
        return st.UPDATE_TASK, params
    if isinstance(row, WorkItemRow):
        if row.saved is None:
            return st.INSERT_WORK_ITEM, _work_item_params(row, d)
        return st.UPDATE_WORK_ITEM, _state_params(row, d)
    if row.saved is None:
        return st.INSERT_WORKFLOW, _workflow_params(row, d)
    return st.UPDATE_WORKFLOW, _state_params(row, d)


def _state_params(row: WorkflowRow | WorkItemRow, d: Dialect) -> dict[str, Any]:
    return {
        "id": row.id,
        "state": row.state,
        "job_ids": d.job_ids_in(row.job_ids),
        "updated_at": d.time_in(row.updated_at),
    }


def _workflow_params(row: WorkflowRow, d: Dialect) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "version_name": row.version_name,
        "path": d.json_in(list(row.path)),
        "root_workflow_id": row.root_workflow_id,
        "realized_path": d.json_in(list(row.realized_path)),
        "parent_workflow_id": row.parent_workflow_id,
        "parent_task_name": row.parent_task_name,
        "parent_task_generation": row.parent_task_generation,
        "state": row.state,
        "execution_mode": row.execution_mode,
        "job_ids": d.job_ids_in(row.job_ids),
        "created_at": d.time_in(row.created_at),
        "updated_at": d.time_in(row.updated_at),
    }


def _work_item_params(row: WorkItemRow, d: Dialect) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "workflow_id": row.workflow_id,
        "root_workflow_id": row.root_workflow_id,
        "task_name": row.task_name,
        "task_generation": row.task_generation,
        "state": row.state,
        "job_ids": d.job_ids_in(row.job_ids),
        "created_at": d.time_in(row.created_at),
        "updated_at": d.time_in(row.updated_at),
    }
