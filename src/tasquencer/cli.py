"""The `tasquencer` command: demo, database upgrade, validation, graphs and inspection."""

from __future__ import annotations

import importlib
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from tasquencer.errors import TasquencerError

if TYPE_CHECKING:
    from tasquencer.app import App
    from tasquencer.records import WorkflowStructure

cli = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
db_cli = typer.Typer(no_args_is_help=True, help="The engine's database schema.")
cli.add_typer(db_cli, name="db")
console = Console()

AppOption = Annotated[str, typer.Option("--app", help="The app to load, as module:attribute.")]


@cli.command()
def demo(
    db: Annotated[Path, typer.Option(help="SQLite file to run the demo in (recreated).")] = Path(
        "tasquencer-demo.db"
    ),
) -> None:
    """Run a document review process end to end on an embedded SQLite file."""
    from tasquencer import demo as demo_module

    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    demo_module.run(db, console)


@db_cli.command("upgrade")
def db_upgrade(
    url: Annotated[str, typer.Option("--url", help="Database URL (sqlite:///app.db, ...).")],
) -> None:
    """Create or upgrade the engine's tables to the current schema."""
    from tasquencer.store import database

    engine = database.create_engine(url)
    try:
        before = database.current_revision(engine)
        database.upgrade_schema(engine)
        after = database.current_revision(engine)
    finally:
        engine.dispose()
    if before == after:
        console.print(f"schema already at revision {after}")
    else:
        console.print(f"schema upgraded from {before or 'empty'} to {after}")


@cli.command()
def validate(app: Annotated[str, typer.Argument(help="The app, as module:attribute.")]) -> None:
    """Load an app (which checks every registered definition) and list its workflows."""
    loaded = _load_app(app)
    table = Table(title=f"{app}: definitions are valid")
    table.add_column("workflow")
    table.add_column("version")
    table.add_column("tasks", justify="right")
    table.add_column("status")
    for name, versions in sorted(loaded.workflows.items()):
        for version in versions.version_names:
            compiled = versions.version(version)
            count = sum(len(w.tasks) for w in compiled.workflows.values())
            status = "deprecated" if compiled.deprecated else "active"
            table.add_row(name, version, str(count), status)
    console.print(table)
    from tasquencer.engine.diagnostics import definition_warnings

    for name, versions in sorted(loaded.workflows.items()):
        for version in versions.version_names:
            for warning in definition_warnings(versions.version(version)):
                console.print(f"[yellow]warning[/yellow] {name} {version}: {warning}")


@cli.command()
def graph(
    target: Annotated[str, typer.Argument(help="module:app:workflow")],
    version: Annotated[str | None, typer.Option(help="Version (default: latest).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="mermaid or dot.")] = "mermaid",
) -> None:
    """Print a workflow definition as a Mermaid or DOT graph."""
    module, _, workflow = target.rpartition(":")
    if not module or not workflow:
        raise typer.BadParameter("expected module:app:workflow", param_hint="TARGET")
    loaded = _load_app(module)
    versions = loaded.workflows.get(workflow)
    if versions is None:
        raise typer.BadParameter(f"{module} has no workflow {workflow!r}", param_hint="TARGET")
    structure = versions.api(version).get_workflow_structure()
    print(_mermaid(structure) if fmt == "mermaid" else _dot(structure))


@cli.command()
def inspect(
    workflow_id: Annotated[str, typer.Argument(help="A workflow instance id.")],
    app: AppOption,
) -> None:
    """Show an instance: state, tasks with generations, markings, work items, children."""
    loaded = _load_app(app)
    try:
        api = loaded.api_of(workflow_id)
        snapshot = api.get_workflow_snapshot(workflow_id)
        warnings = _instance_warnings(loaded, api.version.workflow_name, workflow_id)
    except TasquencerError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    console.print(
        f"[bold]{snapshot.name}[/bold] {snapshot.version_name} {snapshot.id}: {snapshot.state}"
        f" ({snapshot.execution_mode})"
    )
    tasks = Table("task", "state", "generation")
    for name, task in snapshot.tasks.items():
        tasks.add_row(name, task.state, str(task.generation))
    console.print(tasks)
    marked = {c: m for c, m in snapshot.conditions.items() if m}
    console.print(f"marked conditions: {marked or 'none'}")
    if snapshot.work_items:
        items = _table("work item", "name", "task", "generation", "state")
        for item in snapshot.work_items:
            items.add_row(item.id, item.name, item.task_name, str(item.generation), item.state)
        console.print(items)
    for child in snapshot.child_workflows:
        console.print(f"child {child.name} {child.id} (task {child.task_name}): {child.state}")
    for warning in warnings:
        console.print(f"[yellow]warning[/yellow] {warning}")


def _instance_warnings(loaded: App, workflow_name: str, workflow_id: str) -> list[str]:
    from tasquencer.engine import lookup
    from tasquencer.engine.diagnostics import instance_warnings

    with loaded.transaction(read_only=True) as tx:
        return instance_warnings(lookup.workflow(tx.execution, workflow_name, workflow_id))


@cli.command()
def serve(
    app: AppOption,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the HTTP API and the debugger (http://HOST:PORT/debugger) with uvicorn."""
    import uvicorn

    from tasquencer.web import create_app

    loaded = _load_app(app)
    console.print(f"serving {app} on http://{host}:{port} (debugger: /debugger, API docs: /docs)")
    uvicorn.run(create_app(loaded), host=host, port=port, log_level="info")


@cli.command()
def worker(
    app: AppOption,
    concurrency: Annotated[int, typer.Option(help="Jobs run at once (threads).")] = 1,
    poll: Annotated[float, typer.Option(help="Seconds between polls when idle.")] = 1.0,
    lease: Annotated[float, typer.Option(help="Seconds an action's lease lasts.")] = 30.0,
) -> None:
    """Run the app's due jobs until interrupted (SIGINT/SIGTERM finish the job in hand)."""
    import logging
    import signal

    if concurrency < 1:
        raise typer.BadParameter("concurrency must be at least 1")
    # The engine's own notes at INFO; libraries (Alembic's schema check, ...) only when it matters.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("tasquencer").setLevel(logging.INFO)
    loaded = _load_app(app)
    workers = loaded.start_worker(concurrency=concurrency, poll_interval=poll, lease_seconds=lease)

    def request_stop(*_: object) -> None:
        workers.request_stop()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    console.print(f"{concurrency} worker(s) running jobs of {app}; Ctrl-C to stop")
    while workers.is_alive():
        workers.join(0.5)
    loaded.close()


@cli.command()
def jobs(
    app: AppOption,
    state: Annotated[str | None, typer.Option(help="pending, in_progress, success, ...")] = None,
    function: Annotated[str | None, typer.Option(help="Registered function name.")] = None,
    limit: Annotated[int, typer.Option(help="How many, most recent first.")] = 50,
) -> None:
    """List jobs, most recent first."""
    loaded = _load_app(app)
    table = _table("id", "function", "state", "run at", "attempts", "error")
    for job in loaded.list_jobs(state=state, function=function, limit=limit):
        table.add_row(
            job.id,
            job.function,
            job.state,
            job.run_at.isoformat(timespec="seconds"),
            str(job.attempts),
            (job.error or "")[:60],
        )
    console.print(table)


@cli.command()
def migrate(
    workflow: Annotated[str, typer.Argument(help="The workflow whose instances move.")],
    app: AppOption,
    from_version: Annotated[str, typer.Option("--from", help="The version they run now.")],
    to_version: Annotated[str, typer.Option("--to", help="The version they move to.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what each would become; write nothing.")
    ] = False,
    batch_size: Annotated[int, typer.Option(help="Instances read at a time.")] = 100,
) -> None:
    """Migrate every running instance of a version to a later one, one transaction each."""
    from rich.progress import Progress

    from tasquencer.versioning.migrate import count_running

    loaded = _load_app(app)
    try:
        total = count_running(loaded.runtime, workflow, from_version)
        with Progress(console=console, transient=True) as progress:
            bar = progress.add_task(
                f"migrating {workflow} {from_version} -> {to_version}", total=total
            )
            outcomes = loaded.migrate_all(
                workflow,
                from_version=from_version,
                to_version=to_version,
                batch_size=batch_size,
                dry_run=dry_run,
                on_progress=lambda _: progress.advance(bar),
            )
    except (TasquencerError, ValueError, TypeError) as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    table = _table("instance", "became" if not dry_run else "would become", "error")
    for outcome in outcomes:
        became = outcome.new_workflow_id or ""
        if dry_run and outcome.error is None:
            became = ", ".join(f"{t}: {state}" for t, state in outcome.task_states.items())
        table.add_row(outcome.workflow_id, became, outcome.error or "")
    console.print(table)
    failed = sum(1 for o in outcomes if o.error)
    verb = "would migrate" if dry_run else "migrated"
    console.print(f"{verb} {len(outcomes) - failed} of {len(outcomes)} instances; {failed} failed")
    if failed:
        raise typer.Exit(1)


@cli.command("prune-jobs")
def prune_jobs(
    app: AppOption,
    older_than: Annotated[
        str, typer.Option(help="Age of the finished jobs to delete: seconds, or 30m, 12h, 7d.")
    ] = "7d",
) -> None:
    """Delete jobs that finished (success, failed, canceled) at least --older-than ago."""
    age = _duration(older_than)
    loaded = _load_app(app)
    console.print(f"pruned {loaded.prune_jobs(older_than=age)} finished jobs")


def _table(id_header: str, *headers: str) -> Table:
    table = Table()
    table.add_column(id_header, no_wrap=True)  # ids get copied into other commands: keep whole
    for header in headers:
        table.add_column(header)
    return table


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(text: str) -> float:
    number, unit = (text[:-1], text[-1]) if text[-1:] in _UNITS else (text, "s")
    try:
        seconds = float(number) * _UNITS[unit]
    except ValueError:
        raise typer.BadParameter(
            f"expected seconds or a number with s/m/h/d, got {text!r}"
        ) from None
    if not 0 <= seconds < math.inf:
        raise typer.BadParameter(f"a duration must be a finite number >= 0, got {text!r}")
    return seconds


def _load_app(spec: str) -> App:
    from tasquencer.app import App

    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise typer.BadParameter(f"expected module:attribute, got {spec!r}")
    sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise typer.BadParameter(f"cannot import {module_name!r}: {error}") from None
    except TasquencerError as error:
        console.print(f"[red]{spec}: {type(error).__name__}: {error}[/red]")
        raise typer.Exit(1) from None
    loaded = getattr(module, attribute, None)
    if not isinstance(loaded, App):
        raise typer.BadParameter(f"{spec} is not a tasquencer App")
    return loaded


def _mermaid(structure: WorkflowStructure) -> str:
    """A Mermaid flowchart. Node ids are made up (`c0`, `t0`, ...): names such as `end` are
    Mermaid keywords; the names are the labels, quoted."""
    ids = {c["name"]: f"c{i}" for i, c in enumerate(structure["conditions"])}
    ids.update({t["name"]: f"t{i}" for i, t in enumerate(structure["tasks"])})
    lines = ["flowchart LR"]
    for condition in structure["conditions"]:
        lines.append(f'  {ids[condition["name"]]}(("{_label(condition["name"])}"))')
    for task in structure["tasks"]:
        label = f"{task['name']} [{task['join_type']}/{task['split_type']}]"
        lines.append(f'  {ids[task["name"]]}["{_label(label)}"]')
    lines.extend(
        f"  {ids[flow['source']]} --> {ids[flow['target']]}" for flow in structure["flows"]
    )
    return "\n".join(lines)


def _label(text: str) -> str:
    return text.replace('"', "#quot;")


def _dot(structure: WorkflowStructure) -> str:
    lines = [f'digraph "{structure["name"]}" {{', "  rankdir=LR;"]
    for condition in structure["conditions"]:
        lines.append(f'  "{condition["name"]}" [shape=circle];')
    for task in structure["tasks"]:
        lines.append(f'  "{task["name"]}" [shape=box];')
    lines.extend(f'  "{f["source"]}" -> "{f["target"]}";' for f in structure["flows"])
    lines.append("}")
    return "\n".join(lines)


def main() -> None:
    cli()
