"""Many clients on unrelated workflow trees, with tied jobs and in-process workers (PostgreSQL).

Each client thread drives workflows of its own, start to end: one-task approvals and, when
asked for, four-task reviews (a task, an AND split into two, an AND join). The workflow's
initialize action ties an escalation to the workflow, each task's `on_enabled` ties a reminder
to its generation (both far in the future: canceled when their element finishes), and each
work item's initialize action ties a check (a mutation job, due now) and, in the review, a
notification (an action job calling a mutation, due now) to the work item. In-process workers
run the due jobs while the clients work, so job rows are inserted, claimed, run and canceled
side by side with the clients' calls. Every call touches only its own tree and its own rows of
the user's tables: any conflict between them is a false one.

    .venv/bin/python -m tests.stress.trees_app [--clients 16] [--workflows 5] [--workers 2]
        [--kinds approval,review]

prints the figures (calls, failed calls, retried attempts by reason).
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pydantic
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import tasquencer as tq
from tasquencer import Builder
from tasquencer.store.jobs import job_state
from tasquencer.store.tables import jobs
from tests.helpers import wait_for

FAR = 3600.0  # reminders and escalations: canceled long before they are due


class Base(DeclarativeBase):
    pass


class Claim(Base):
    __tablename__ = "trees_claims"

    workflow_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    client: Mapped[str] = mapped_column(sa.String(20))
    status: Mapped[str] = mapped_column(sa.String(20))


class Event(Base):
    """What the jobs did, one row per job (the key refuses a second application)."""

    __tablename__ = "trees_events"

    workflow_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    event: Mapped[str] = mapped_column(sa.String(80), primary_key=True)


class Submission(pydantic.BaseModel):
    client: str


class Options(pydantic.BaseModel):
    notify: bool


@dataclass
class Trees:
    """The registered workflows and jobs of one app."""

    app: tq.App
    approval: tq.WorkflowApi
    review: tq.WorkflowApi


def build(app: tq.App) -> Trees:
    """Create the user's tables and register the workflows and jobs."""
    Base.metadata.create_all(app.engine)

    @app.mutation(name="trees.record", internal=True)
    def record(ctx: Any, workflow_id: str, event: str) -> None:
        ctx.db.add(Event(workflow_id=workflow_id, event=event))

    @app.action(name="trees.notify", internal=True)
    def notify(ctx: Any, workflow_id: str, event: str) -> None:
        ctx.run_mutation(record, workflow_id=workflow_id, event=event)

    @app.action(name="trees.remind", internal=True)
    def remind(ctx: Any, workflow_id: str) -> None:
        raise AssertionError(f"a reminder of {workflow_id} ran: it should have been canceled")

    def initialize_item(ctx: Any, options: Options) -> None:
        item_id = ctx.work_item.initialize()
        workflow_id = ctx.parent.workflow.id
        event = f"check {ctx.parent.task.name} {item_id}"
        ctx.register_scheduled(
            ctx.scheduler.run_after(0, record, workflow_id=workflow_id, event=event)
        )
        if options.notify:
            event = f"notify {ctx.parent.task.name} {item_id}"
            ctx.register_scheduled(
                ctx.scheduler.run_after(0, notify, workflow_id=workflow_id, event=event)
            )

    def decide(ctx: Any, payload: Any) -> None:
        ctx.db.get(Claim, ctx.parent.workflow.id).status = ctx.parent.task.name
        ctx.work_item.complete()

    item = (
        Builder.work_item("item")
        .with_actions(
            Builder.work_item_actions().initialize(Options, initialize_item).complete(None, decide)
        )
        .with_activities(on_initialized=lambda ctx: ctx.work_item.start())
    )

    def task(notify_too: bool) -> Any:
        def on_enabled(ctx: Any) -> None:
            ctx.work_item.initialize({"notify": notify_too})
            ctx.register_scheduled(
                ctx.scheduler.run_after(FAR, remind, workflow_id=ctx.parent.workflow.id)
            )

        return Builder.task(item).with_activities(on_enabled=on_enabled)

    def submit(ctx: Any, submission: Submission) -> None:
        workflow_id = ctx.workflow.initialize()
        ctx.db.add(Claim(workflow_id=workflow_id, client=submission.client, status="new"))
        ctx.register_scheduled(ctx.scheduler.run_after(FAR, remind, workflow_id=workflow_id))

    def workflow(name: str) -> Any:
        return (
            Builder.workflow(name)
            .with_actions(Builder.workflow_actions().initialize(Submission, submit))
            .start_condition("start")
            .end_condition("end")
        )

    approval = (
        workflow("trees_approval")
        .task("approve", task(False))
        .connect_condition("start", lambda to: to.task("approve"))
        .connect_task("approve", lambda to: to.condition("end"))
    )
    review = (
        workflow("trees_review")
        .task("draft", task(False).with_split_type("and"))
        .task("legal", task(True))
        .task("finance", task(False))
        .task("sign", task(False).with_join_type("and"))
        .connect_condition("start", lambda to: to.task("draft"))
        .connect_task("draft", lambda to: to.task("legal").task("finance"))
        .connect_task("legal", lambda to: to.task("sign"))
        .connect_task("finance", lambda to: to.task("sign"))
        .connect_task("sign", lambda to: to.condition("end"))
    )
    return Trees(
        app,
        app.register(tq.versions("trees_approval").version("v1", approval)).api("v1"),
        app.register(tq.versions("trees_review").version("v1", review)).api("v1"),
    )


# --- driving it ------------------------------------------------------------------------------


@dataclass
class Report:
    clients: int
    workflows: list[str] = field(default_factory=list)
    calls: int = 0  # the clients' mutation calls
    failures: list[str] = field(default_factory=list)
    retries: Counter[str] = field(default_factory=Counter)
    jobs: Counter[str] = field(default_factory=Counter)  # states of the jobs of this drive
    warnings: Counter[str] = field(default_factory=Counter)  # logged by the engine or psycopg
    seconds: float = 0.0

    @property
    def job_calls(self) -> int:
        """Transactions the workers ran for jobs: one per mutation job or action's mutation."""
        return self.jobs["success"]

    @property
    def retried_share(self) -> float:
        total = self.calls + self.job_calls
        return sum(self.retries.values()) / total if total else 0.0

    def summary(self) -> str:
        return (
            f"{self.clients} clients, {len(self.workflows)} workflows in {self.seconds:.1f}s: "
            f"{self.calls} client calls + {self.job_calls} job calls, "
            f"{len(self.failures)} failed, retried attempts {dict(self.retries)} "
            f"({self.retried_share:.1%} of calls), jobs {dict(self.jobs)}, "
            f"warnings {dict(self.warnings)}"
        )


class _Warnings(logging.Handler):
    """Counts warnings of the engine and the driver by their first words."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        key = "pipeline aborted" if "pipeline aborted" in text else " ".join(text.split()[:4])
        self.seen[f"{record.name}: {key}"] += 1  # handle() holds the handler's lock


def drive(
    trees: Trees,
    clients: int,
    workflows: int,
    workers: int = 2,
    kinds: tuple[str, ...] = ("approval",),
    settle: float = 60.0,
) -> Report:
    """`clients` threads each run `workflows` workflows to completion (of the `kinds` in turn)
    while `workers` in-process workers run the jobs; then the due jobs are given `settle`
    seconds to end."""
    app = trees.app
    apis = [{"approval": trees.approval, "review": trees.review}[kind] for kind in kinds]
    report = Report(clients)
    lock = threading.Lock()
    before = app.runtime.runner.retries()
    jobs_before = job_states(app)
    handler = _Warnings()
    loggers = [logging.getLogger(name) for name in ("tasquencer", "psycopg")]
    for logger in loggers:
        logger.addHandler(handler)
    began = time.monotonic()

    def call(function: Any, *args: Any) -> Any:
        with lock:
            report.calls += 1
        try:
            return function(*args)
        except Exception as error:
            with lock:
                report.failures.append(f"{type(error).__name__}: {error}"[:300])
            raise

    def client(index: int) -> None:
        name = f"c{index}"
        for n in range(workflows):
            api = apis[(index + n) % len(apis)]
            try:
                workflow_id = call(api.initialize_root_workflow, {"client": name})
                with lock:
                    report.workflows.append(workflow_id)
                while api.get_workflow_state(workflow_id) != "completed":
                    for work_item in api.list_work_items(workflow_id, state="started"):
                        call(api.complete_work_item, work_item.id)
            except Exception:
                continue  # counted as a failure; the check of the workflows reports it

    try:
        running = [app.start_worker(poll_interval=0.2) for _ in range(workers)]
        try:
            threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wait_for(lambda: not _unfinished_jobs(app), timeout=settle, interval=0.1)
        finally:
            for worker in running:
                worker.stop()
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    report.seconds = time.monotonic() - began
    report.retries = app.runtime.runner.retries() - before
    report.jobs = job_states(app) - jobs_before
    report.warnings = handler.seen
    return report


def _unfinished_jobs(app: tq.App) -> int:
    states = job_states(app)
    return states["pending"] + states["in_progress"]


def job_states(app: tq.App) -> Counter[str]:
    """How many jobs are in each state, as `app.get_job` reports it."""
    with app.engine.connect() as connection:
        rows = connection.execute(
            sa.select(job_state, sa.func.count()).select_from(jobs).group_by(job_state)
        ).all()
    return Counter({state: count for state, count in rows})


def workflow_states(app: tq.App) -> Counter[str]:
    with app.engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT state, count(*) FROM tasquencer_workflows GROUP BY state"
        ).all()
    return Counter({state: count for state, count in rows})


def main() -> None:
    from tests import postgres_server
    from tests.stress.support import fresh_schema

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workflows", type=int, default=5, help="per client")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kinds", default="approval,review", help="workflows to drive, in turn")
    args = parser.parse_args()
    server = postgres_server.session_database()
    assert server.url is not None, server.problem
    try:
        with fresh_schema(server.url) as url:
            app = tq.App(url, pool_size=args.clients + 4 * args.workers, max_overflow=10)
            try:
                kinds = tuple(args.kinds.split(","))
                report = drive(build(app), args.clients, args.workflows, args.workers, kinds)
                print(report.summary())
                print("workflows", dict(workflow_states(app)))
                for failure, count in Counter(report.failures).most_common(5):
                    print(f"  {count} x {failure}")
            finally:
                app.close()
    finally:
        postgres_server.drop_database(server.url)


if __name__ == "__main__":
    main()
