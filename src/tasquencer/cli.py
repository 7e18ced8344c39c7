"""The `tasquencer` command: demo, database upgrade, validation, graphs, inspection, and the
management of groups, roles and their members (`tasquencer auth ...`)."""

from __future__ import annotations

import importlib
import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
auth_cli = typer.Typer(no_args_is_help=True, help="Groups, roles, members and scopes.")
cli.add_typer(auth_cli, name="auth")
groups_cli = typer.Typer(no_args_is_help=True, help="Groups of users.")
roles_cli = typer.Typer(no_args_is_help=True, help="Roles and the scopes they grant.")
members_cli = typer.Typer(no_args_is_help=True, help="Who belongs to a group.")
assignments_cli = typer.Typer(no_args_is_help=True, help="Who holds a role.")
auth_cli.add_typer(groups_cli, name="groups")
auth_cli.add_typer(roles_cli, name="roles")
auth_cli.add_typer(members_cli, name="members")
auth_cli.add_typer(assignments_cli, name="assignments")
console = Console()

AppOption = Annotated[str, typer.Option("--app", help="The app to load, as module:attribute.")]
DescriptionOption = Annotated[str | None, typer.Option(help="A description.")]
ActiveOption = Annotated[
    bool | None, typer.Option("--active/--inactive", help="Whether it counts.")
]
ExpiresOption = Annotated[
    str | None, typer.Option("--expires", help="When it ends (ISO 8601 with a time zone).")
]


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
    at: Annotated[
        str | None,
        typer.Option(help="Show it as it was then (ISO 8601, UTC unless a zone is given)."),
    ] = None,
) -> None:
    """Show an instance: state, tasks with generations, markings, work items, children."""
    when = _past(at)
    loaded = _load_app(app)
    try:
        api = loaded.api_of(workflow_id)
        if when is None:
            snapshot = api.get_workflow_snapshot(workflow_id)
            warnings = _instance_warnings(loaded, api.version.workflow_name, workflow_id)
        else:
            snapshot = api.get_workflow_state_at(workflow_id, when)
            warnings = []
            console.print(f"as it was at {when.isoformat()}")
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


@cli.command()
def history(
    workflow_id: Annotated[str, typer.Argument(help="A workflow instance id.")],
    app: AppOption,
) -> None:
    """List what happened to an instance, oldest first: the changes of the workflow, its
    tasks and its work items, and who made them (from the audit trail)."""
    loaded = _load_app(app)
    with _reported():
        events = loaded.api_of(workflow_id).get_workflow_history(workflow_id)
    table = Table("#", "time", "operation", "element", "generation", "caller")
    for event in events:
        caller = event.caller or ""
        if event.user_id is not None:
            caller = f"{caller} ({event.user_id})"
        generation = "" if event.generation is None else str(event.generation)
        table.add_row(
            str(event.seq), _time(event.at), event.operation, event.element, generation, caller
        )
    console.print(table)
    if not events:
        console.print("no recorded history (was the app run with audit=None?)")


@cli.command("prune-audit")
def prune_audit(
    app: AppOption,
    older_than: Annotated[
        str, typer.Option(help="Age of the finished traces to delete: seconds, or 30m, 12h, 7d.")
    ] = "90d",
) -> None:
    """Delete the audit trail of workflow trees that finished at least --older-than ago."""
    age = _duration(older_than)
    loaded = _load_app(app)
    console.print(f"pruned the audit trail of {loaded.prune_audit(older_than=age)} finished trees")


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


# --- auth ------------------------------------------------------------------------------------


@auth_cli.command("scopes")
def auth_scopes(app: AppOption) -> None:
    """List the scopes the app's scope modules declare."""
    table = Table("scope", "kind", "description", "tags", "deprecated")
    for scope in _load_app(app).auth.scopes():
        table.add_row(
            scope.name,
            scope.module_kind,
            scope.description,
            ", ".join(scope.tags),
            "yes" if scope.deprecated else "",
        )
    console.print(table)


@auth_cli.command("user")
def auth_user(user_id: Annotated[str, typer.Argument(help="A user id.")], app: AppOption) -> None:
    """Show what a user holds now: roles, scopes and groups."""
    loaded = _load_app(app)
    with _reported():
        roles = [r.name for r in loaded.auth.roles_of(user_id)]
        groups = [g.name for g in loaded.auth.groups_of(user_id)]
        scopes = sorted(loaded.auth.scopes_of(user_id))
    console.print(f"[bold]{user_id}[/bold]")
    console.print(f"roles: {', '.join(roles) or 'none'}")
    console.print(f"groups: {', '.join(groups) or 'none'}")
    console.print(f"scopes: {', '.join(scopes) or 'none'}")


@groups_cli.command("list")
def groups_list(app: AppOption) -> None:
    """List the groups."""
    table = _table("id", "name", "active", "description")
    for group in _load_app(app).auth.list_groups():
        table.add_row(group.id, group.name, _yes(group.is_active), group.description)
    console.print(table)


@groups_cli.command("create")
def groups_create(
    name: str, app: AppOption, description: DescriptionOption = None, active: ActiveOption = None
) -> None:
    """Create a group."""
    loaded = _load_app(app)
    with _reported():
        group = loaded.auth.create_group(
            name, description=description or "", is_active=active is not False
        )
    console.print(f"created group {group.name} ({group.id})")


@groups_cli.command("update")
def groups_update(
    name: str,
    app: AppOption,
    rename: Annotated[str | None, typer.Option(help="A new name.")] = None,
    description: DescriptionOption = None,
    active: ActiveOption = None,
) -> None:
    """Rename a group, or change its description or active flag."""
    loaded = _load_app(app)
    changes = _given(new_name=rename, description=description, is_active=active)
    with _reported():
        group = loaded.auth.update_group(name, **changes)
    console.print(f"updated group {group.name}")


@groups_cli.command("delete")
def groups_delete(name: str, app: AppOption) -> None:
    """Delete a group with its memberships and role assignments."""
    loaded = _load_app(app)
    with _reported():
        loaded.auth.delete_group(name)
    console.print(f"deleted group {name}")


@roles_cli.command("list")
def roles_list(app: AppOption) -> None:
    """List the roles with their scopes."""
    table = _table("id", "name", "active", "scopes", "description")
    for role in _load_app(app).auth.list_roles():
        table.add_row(
            role.id, role.name, _yes(role.is_active), ", ".join(role.scopes), role.description
        )
    console.print(table)


ScopesOption = Annotated[list[str], typer.Option("--scope", help="A scope (repeat for more).")]


@roles_cli.command("create")
def roles_create(
    name: str,
    app: AppOption,
    scope: ScopesOption,
    description: DescriptionOption = None,
    active: ActiveOption = None,
) -> None:
    """Create a role granting declared scopes."""
    loaded = _load_app(app)
    with _reported():
        role = loaded.auth.create_role(
            name, scope, description=description or "", is_active=active is not False
        )
    console.print(f"created role {role.name} ({role.id}): {', '.join(role.scopes)}")


@roles_cli.command("update")
def roles_update(
    name: str,
    app: AppOption,
    rename: Annotated[str | None, typer.Option(help="A new name.")] = None,
    scope: Annotated[list[str] | None, typer.Option("--scope", help="Replace the scopes.")] = None,
    description: DescriptionOption = None,
    active: ActiveOption = None,
) -> None:
    """Rename a role, or change its scopes, description or active flag."""
    loaded = _load_app(app)
    changes = _given(new_name=rename, scopes=scope, description=description, is_active=active)
    with _reported():
        role = loaded.auth.update_role(name, **changes)
    console.print(f"updated role {role.name}: {', '.join(role.scopes)}")


@roles_cli.command("delete")
def roles_delete(name: str, app: AppOption) -> None:
    """Delete a role with its assignments."""
    loaded = _load_app(app)
    with _reported():
        loaded.auth.delete_role(name)
    console.print(f"deleted role {name}")


@members_cli.command("list")
def members_list(group: str, app: AppOption) -> None:
    """List a group's memberships, expired ones included."""
    loaded = _load_app(app)
    with _reported():
        memberships = loaded.auth.memberships(group=group)
    table = _table("user", "joined", "expires")
    for member in memberships:
        table.add_row(member.user_id, _time(member.joined_at), _time(member.expires_at))
    console.print(table)


@members_cli.command("add")
def members_add(group: str, user_id: str, app: AppOption, expires: ExpiresOption = None) -> None:
    """Make a user a member of a group."""
    loaded = _load_app(app)
    with _reported():
        loaded.auth.add_member(group, user_id, expires_at=_when(expires))
    console.print(f"{user_id} is a member of {group}")


@members_cli.command("remove")
def members_remove(group: str, user_id: str, app: AppOption) -> None:
    """Remove a user from a group."""
    loaded = _load_app(app)
    with _reported():
        loaded.auth.remove_member(group, user_id)
    console.print(f"{user_id} is no longer a member of {group}")


UserOption = Annotated[str | None, typer.Option("--user", help="A user id.")]
GroupOption = Annotated[str | None, typer.Option("--group", help="A group name.")]


@assignments_cli.command("list")
def assignments_list(role: str, app: AppOption) -> None:
    """List who holds a role."""
    loaded = _load_app(app)
    with _reported():
        assignments = loaded.auth.role_assignments(role)
    table = Table("user", "group", "assigned", "by", "expires")
    for held in assignments:
        table.add_row(
            held.user_id or "",
            held.group or "",
            _time(held.assigned_at),
            held.assigned_by or "",
            _time(held.expires_at),
        )
    console.print(table)


@assignments_cli.command("add")
def assignments_add(
    role: str,
    app: AppOption,
    user: UserOption = None,
    group: GroupOption = None,
    expires: ExpiresOption = None,
    by: Annotated[str | None, typer.Option(help="Who assigns it.")] = None,
) -> None:
    """Give a role to a user (--user) or to a group (--group)."""
    loaded = _load_app(app)
    with _reported():
        loaded.auth.assign_role(
            role, user_id=user, group=group, expires_at=_when(expires), assigned_by=by
        )
    console.print(f"{user or group} holds role {role}")


@assignments_cli.command("remove")
def assignments_remove(
    role: str, app: AppOption, user: UserOption = None, group: GroupOption = None
) -> None:
    """Take a role from a user (--user) or a group (--group)."""
    loaded = _load_app(app)
    with _reported():
        loaded.auth.unassign_role(role, user_id=user, group=group)
    console.print(f"{user or group} no longer holds role {role}")


@contextmanager
def _reported() -> Iterator[None]:
    """Refused input is printed and ends the command with status 1."""
    try:
        yield
    except (TasquencerError, ValueError, TypeError) as error:
        console.print(f"[red]{type(error).__name__}: {error}[/red]")
        raise typer.Exit(1) from None


def _given(**options: object) -> dict[str, Any]:
    """The options given on the command line (None: not given, left as they are)."""
    return {name: value for name, value in options.items() if value is not None}


def _when(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"expected an ISO 8601 time, got {text!r}") from None
    if when.tzinfo is None:
        raise typer.BadParameter(f"{text!r} has no time zone (add +00:00 or Z)")
    return when


def _past(text: str | None) -> datetime | None:
    """A time to look back at: ISO 8601, UTC when it names no zone."""
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"expected an ISO 8601 time, got {text!r}") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _time(value: datetime | None) -> str:
    return "" if value is None else value.isoformat(timespec="seconds")


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


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
