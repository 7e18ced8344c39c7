"""The `tasquencer` command, run in-process on an app module written for each test."""

from __future__ import annotations

import importlib
import itertools
import sys
import textwrap
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from tasquencer.cli import cli, console

MODULE_IDS = itertools.count()

APP_SOURCE = """
import tasquencer as tq
from tasquencer import Builder

app = tq.App({url!r})


@app.mutation(name="cli.noop")
def noop(ctx):
    pass


review = (
    Builder.workflow("review")
    .start_condition("start")
    .end_condition("end")
    .task("draft", Builder.task(Builder.work_item("draft_item")))
    .task("check", Builder.task(Builder.work_item("check_item")))
    .connect_condition("start", lambda to: to.task("draft"))
    .connect_task("draft", lambda to: to.task("check"))
    .connect_task("check", lambda to: to.condition("end"))
)
api = app.register(tq.versions("review").version("v1", review)).api("v1")
"""

BROKEN_SOURCE = """
import tasquencer as tq
from tasquencer import Builder

app = tq.App({url!r})
broken = Builder.workflow("broken").end_condition("end")
app.register(tq.versions("broken").version("v1", broken))
"""


@pytest.fixture
def write_app(tmp_path, monkeypatch):
    """Writes an app module in a fresh folder (the CLI imports from the working directory)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    written: list[str] = []

    def write(source: str = APP_SOURCE) -> str:
        name = f"cli_app_{next(MODULE_IDS)}"
        url = f"sqlite:///{tmp_path / 'app.db'}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source.format(url=url)))
        written.append(name)
        return name

    yield write
    for name in written:
        module = sys.modules.pop(name, None)
        if module is not None and hasattr(module, "app"):
            module.app.close()


def invoke(*args: str, expect: int | None = None):
    console.width = 200  # Rich wraps table cells at 80 columns when not in a terminal
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False, terminal_width=200)
    if expect is not None:
        assert result.exit_code == expect, result.output
    return result


def test_validate_lists_the_registered_workflows(write_app):
    module = write_app()
    result = invoke("validate", f"{module}:app")
    assert result.exit_code == 0, result.output
    assert "definitions are valid" in result.output
    assert "review" in result.output and "v1" in result.output and "active" in result.output


def test_validate_of_a_malformed_definition_names_the_error_and_fails(write_app):
    module = write_app(BROKEN_SOURCE)
    result = invoke("validate", f"{module}:app")
    assert result.exit_code == 1
    assert "WorkflowMissingStartConditionError" in result.output
    assert "'broken'" in result.output


def test_an_app_spec_without_attribute_is_a_usage_error(write_app):
    result = CliRunner().invoke(cli, ["validate", "nothing_here"])
    assert result.exit_code == 2
    assert "module:attribute" in result.output


@pytest.mark.parametrize(
    ("fmt", "edge"),
    [("mermaid", "t0 --> c2"), ("dot", '"draft" -> "draft__to__check"')],
)
def test_graph_prints_the_workflow_with_its_implicit_conditions(write_app, fmt, edge):
    module = write_app()
    result = invoke("graph", f"{module}:app:review", "--format", fmt)
    assert result.exit_code == 0, result.output
    assert edge in result.output
    assert "check" in result.output and "end" in result.output


def test_mermaid_node_ids_are_never_mermaid_keywords(write_app):
    """`end` is a Mermaid keyword: a node named so broke the chart. Ids are made up; the
    names are quoted labels."""
    module = write_app()
    result = invoke("graph", f"{module}:app:review")
    lines = result.output.splitlines()
    assert '  c1(("end"))' in lines
    assert '  c2(("draft__to__check"))' in lines
    assert '  t0["draft [and/and]"]' in lines
    nodes = {line.split("(")[0].split("[")[0].strip() for line in lines[1:] if "-->" not in line}
    assert nodes == {"c0", "c1", "c2", "t0", "t1"}


def test_validate_warns_of_tasks_that_create_no_work_items(write_app):
    module = write_app()
    result = invoke("validate", f"{module}:app")
    assert result.exit_code == 0, result.output
    assert "task 'draft' creates no work items by itself" in result.output
    assert "api.initialize_work_item" in result.output


STUCK_SOURCE = """
import tasquencer as tq
from tasquencer import Builder

app = tq.App({url!r})


def start(ctx):
    ctx.work_item.initialize()


stuck = (
    Builder.workflow("stuck")
    .start_condition("start")
    .condition("nowhere")
    .end_condition("end")
    .task("a", Builder.task(Builder.work_item("item")).with_split_type("xor")
          .with_activities(on_enabled=start))
    .task("b", Builder.task(Builder.work_item("item")).with_activities(on_enabled=start))
    .connect_condition("start", lambda to: to.task("a"))
    .connect_task("a", lambda to: to.task("b").condition("nowhere")
                  .route(lambda ctx: ctx.route.to_condition("nowhere")))
    .connect_task("b", lambda to: to.condition("end"))
)
api = app.register(stuck).api()
"""


def test_inspect_warns_when_nothing_can_happen_any_more(write_app):
    module = write_app(STUCK_SOURCE)
    api = importlib.import_module(module).api
    workflow_id = api.internal_initialize_root_workflow()
    (item,) = api.list_work_items(workflow_id)
    api.internal_start_work_item(item.id)
    api.internal_complete_work_item(item.id)
    result = invoke("inspect", workflow_id, "--app", f"{module}:app")
    assert result.exit_code == 0, result.output
    assert "nothing can happen any more" in result.output


def test_inspect_warns_of_an_enabled_task_waiting_for_work_items_nothing_creates(write_app):
    module = write_app()
    api = importlib.import_module(module).api
    workflow_id = api.internal_initialize_root_workflow()
    result = invoke("inspect", workflow_id, "--app", f"{module}:app")
    assert "task 'draft' is enabled (generation 1) with no work items" in result.output


def test_graph_of_an_unknown_workflow_is_a_usage_error(write_app):
    module = write_app()
    result = CliRunner().invoke(cli, ["graph", f"{module}:app:nope"])
    assert result.exit_code == 2
    assert "no workflow 'nope'" in result.output


def test_inspect_shows_tasks_markings_and_work_items(write_app):
    module = write_app()
    api = importlib.import_module(module).api
    workflow_id = api.internal_initialize_root_workflow()
    assert api.get_workflow_task_states(workflow_id) == {"draft": "enabled", "check": "disabled"}
    target = {"path": ["review", "draft", "draft_item"], "parent_workflow_id": workflow_id}
    item_id = api.internal_initialize_work_item({**target, "parent_task_name": "draft"})

    result = invoke("inspect", workflow_id, "--app", f"{module}:app")
    assert result.exit_code == 0, result.output
    assert f"review v1 {workflow_id}: initialized (normal)" in result.output
    assert "marked conditions: {'start': 1}" in result.output
    assert item_id in result.output and "draft_item" in result.output


def test_inspect_of_an_unknown_workflow_says_so_and_fails(write_app):
    module = write_app()
    result = invoke("inspect", "nope", "--app", f"{module}:app")
    assert result.exit_code == 1
    assert "nope" in result.output


def test_jobs_lists_and_prune_jobs_deletes_finished_jobs(write_app):
    module = write_app()
    app = importlib.import_module(module).app
    schedule = app.mutation(name="cli.schedule")(
        lambda ctx, delay: ctx.scheduler.run_after(delay, "cli.noop")
    )
    done = app.run_mutation(schedule, delay=0)
    later = app.run_mutation(schedule, delay=3600)
    assert app.run_due_jobs() == 1

    listed = invoke("jobs", "--app", f"{module}:app")
    assert listed.exit_code == 0, listed.output
    assert done in listed.output and later in listed.output
    assert "success" in listed.output and "pending" in listed.output

    pruned = invoke("prune-jobs", "--app", f"{module}:app", "--older-than", "0s")
    assert pruned.exit_code == 0, pruned.output
    assert "pruned 1 finished jobs" in pruned.output
    assert app.get_job(done) is None
    assert app.get_job(later).state == "pending"


@pytest.mark.parametrize("bad", ["soon", "-1d", "7w", "", "nan", "infd"])
def test_prune_jobs_with_a_bad_duration_is_a_usage_error_and_prunes_nothing(write_app, bad):
    module = write_app()
    app = importlib.import_module(module).app
    done = app.run_mutation(
        app.mutation(name="cli.schedule_now")(lambda ctx: ctx.scheduler.run_after(0, "cli.noop"))
    )
    assert app.run_due_jobs() == 1
    result = CliRunner().invoke(cli, ["prune-jobs", "--app", f"{module}:app", "--older-than", bad])
    assert result.exit_code == 2
    assert repr(bad) in result.output
    assert app.get_job(done).state == "success"


def test_demo_runs_the_document_review_to_completion(tmp_path):
    result = invoke("demo", "--db", str(tmp_path / "demo.db"))
    assert result.exit_code == 0, result.output
    assert "published" in result.output
    assert "workflow is completed" in result.output


MIGRATION_SOURCE = """
import tasquencer as tq
from tasquencer import Builder

app = tq.App({url!r})


def create(ctx):
    ctx.work_item.initialize()


def chain(*names):
    wf = Builder.workflow("orders").start_condition("start").end_condition("end")
    for name in names:
        task = Builder.task(Builder.work_item("item")).with_activities(on_enabled=create)
        wf = wf.task(name, task)
    wf = wf.connect_condition("start", lambda to: to.task(names[0]))
    for a, b in zip(names, names[1:]):
        wf = wf.connect_task(a, lambda to, b=b: to.task(b))
    return wf.connect_task(names[-1], lambda to: to.condition("end"))


def initializer(ctx):
    if ctx.migrating_from_workflow.id in BROKEN:
        raise RuntimeError("cannot move this one")


BROKEN = set()
v1, v2 = chain("pick"), chain("pick", "pack")
migration = tq.migrate(v1, v2).with_initializer(initializer).with_task_migrators(
    {{"orders/pick": lambda ctx: tq.MigrationMode.CONTINUE}}
)
versions = app.register(
    tq.versions("orders").version("v1", v1).version("v2", v2).with_migration("v1->v2", migration)
)
"""


def test_migrate_moves_every_instance_and_reports_the_ones_that_fail(write_app):
    module = write_app(MIGRATION_SOURCE)
    loaded = importlib.import_module(module)
    v1 = loaded.versions.api("v1")
    ids = [v1.internal_initialize_root_workflow() for _ in range(4)]
    loaded.BROKEN.add(ids[1])

    dry = invoke(
        "migrate",
        "orders",
        "--app",
        f"{module}:app",
        "--from",
        "v1",
        "--to",
        "v2",
        "--dry-run",
        expect=1,
    )
    assert "pick: enabled, pack: disabled" in dry.output
    assert "would migrate 3 of 4 instances; 1 failed" in dry.output
    assert [w.state for w in v1.list_workflows()] == ["initialized"] * 4

    result = invoke(
        "migrate", "orders", "--app", f"{module}:app", "--from", "v1", "--to", "v2", expect=1
    )
    assert "migrated 3 of 4 instances; 1 failed" in result.output
    assert "cannot move this one" in result.output
    assert ids[1] in result.output
    assert [w.id for w in v1.list_workflows(state="initialized")] == [ids[1]]
    assert len(loaded.versions.api("v2").list_workflows()) == 3


def test_migrate_to_an_unknown_version_is_an_error_that_changes_nothing(write_app):
    module = write_app(MIGRATION_SOURCE)
    loaded = importlib.import_module(module)
    loaded.versions.api("v1").internal_initialize_root_workflow()
    result = invoke(
        "migrate", "orders", "--app", f"{module}:app", "--from", "v1", "--to", "v7", expect=1
    )
    assert "no version 'v7'" in result.output
    assert len(loaded.versions.api("v1").list_workflows(state="initialized")) == 1


def test_history_lists_the_recorded_changes_with_their_callers(write_app):
    module = write_app()
    api = importlib.import_module(module).api
    workflow_id = api.internal_initialize_root_workflow()
    target = {"path": ["review", "draft", "draft_item"], "parent_workflow_id": workflow_id}
    item_id = api.internal_initialize_work_item({**target, "parent_task_name": "draft"})

    result = invoke("history", workflow_id, "--app", f"{module}:app", expect=0)
    lines = [line for line in result.output.splitlines() if "Workflow." in line or "Task." in line]
    assert ["Workflow.initialize" in lines[0], "Task.enable" in lines[1]] == [True, True]
    assert "draft" in lines[1] and "internal" in lines[1]
    assert "WorkItem.initialize" in result.output and item_id in result.output
    assert invoke("history", "nope", "--app", f"{module}:app").exit_code == 1


def test_inspect_at_a_past_time_shows_the_instance_as_it_was_then(write_app):
    module = write_app()
    api = importlib.import_module(module).api
    workflow_id = api.internal_initialize_root_workflow()
    between = datetime.now(UTC)
    target = {"path": ["review", "draft", "draft_item"], "parent_workflow_id": workflow_id}
    item_id = api.internal_initialize_work_item({**target, "parent_task_name": "draft"})

    then = invoke("inspect", workflow_id, "--app", f"{module}:app", "--at", between.isoformat())
    assert then.exit_code == 0, then.output
    assert f"as it was at {between.isoformat()}" in then.output
    assert f"review v1 {workflow_id}: initialized (normal)" in then.output
    assert item_id not in then.output
    assert item_id in invoke("inspect", workflow_id, "--app", f"{module}:app", expect=0).output

    # A time without a zone is UTC; before the instance existed, the command says so.
    early = invoke("inspect", workflow_id, "--app", f"{module}:app", "--at", "2020-12-01T10:00")
    assert early.exit_code == 1
    assert "did not exist at 2020-12-01T10:00:00+00:00" in early.output
    bad = CliRunner().invoke(
        cli, ["inspect", workflow_id, "--app", f"{module}:app", "--at", "soon"]
    )
    assert bad.exit_code == 2 and "ISO 8601" in bad.output


def test_prune_audit_deletes_the_trail_of_finished_trees(write_app):
    module = write_app()
    api = importlib.import_module(module).api
    done = api.internal_initialize_root_workflow()
    api.internal_cancel_root_workflow(done)
    running = api.internal_initialize_root_workflow()
    pruned = invoke("prune-audit", "--app", f"{module}:app", "--older-than", "0s", expect=0)
    assert "pruned the audit trail of 1 finished trees" in pruned.output
    assert api.get_workflow_history(done) == []
    assert api.get_workflow_history(running) != []
