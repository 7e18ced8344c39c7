"""A database remembers the structure of every registered (workflow, version): another app
cannot register a different definition under the same name and version."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.config import Config
from typer.testing import CliRunner

import tasquencer as tq
from tasquencer import Builder
from tasquencer.cli import cli
from tasquencer.store import database
from tests.helpers import auto_task, dump


def two_tasks(join: str = "and", second: str = "b") -> tq.builder.WorkflowBuilder:
    return (
        Builder.workflow("wf")
        .start_condition("start")
        .end_condition("end")
        .task("a", auto_task())
        .task(second, auto_task().with_join_type(join))  # type: ignore[arg-type]
        .connect_condition("start", lambda to: to.task("a"))
        .connect_task("a", lambda to: to.task(second))
        .connect_task(second, lambda to: to.condition("end"))
    )


def test_the_same_definition_registers_again_in_another_app(database_url):
    first = tq.App(database_url)
    second = tq.App(database_url)
    try:
        api = first.register(two_tasks()).api()
        workflow_id = api.internal_initialize_root_workflow()
        other = second.register(two_tasks()).api()
        assert other.get_workflow_state(workflow_id) == "started"
    finally:
        first.close()
        second.close()


def test_callbacks_may_change_between_deployments(database_url):
    first = tq.App(database_url)
    second = tq.App(database_url)
    try:
        first.register(two_tasks())
        changed = two_tasks().with_activities(on_completed=lambda ctx: None)
        second.register(changed)
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize(
    ("changed", "named"),
    [(lambda: two_tasks(join="xor"), "join"), (lambda: two_tasks(second="c"), "'c'")],
    ids=["join type", "task renamed"],
)
def test_a_different_structure_under_a_registered_version_is_refused(database_url, changed, named):
    first = tq.App(database_url)
    second = tq.App(database_url)
    try:
        first.register(two_tasks())
        before = dump(first)
        with pytest.raises(tq.VersionConflictError, match=named) as refused:
            second.register(changed())
        assert "'v1' of workflow 'wf'" in str(refused.value)
        assert not second.is_registered("wf")
        assert dump(first) == before
        second.register(tq.versions("wf").version("v1", two_tasks()).version("v2", changed()))
    finally:
        first.close()
        second.close()


def test_db_upgrade_brings_a_first_schema_database_up_to_date_keeping_its_instances(
    database_url,
):
    app = tq.App(database_url)
    api = app.register(two_tasks()).api()
    workflow_id = api.internal_initialize_root_workflow()
    (first,) = api.list_work_items(workflow_id)
    api.internal_complete_work_item(first.id)
    app.close()
    config = Config()
    config.set_main_option("script_location", str(database.MIGRATIONS))
    engine = database.create_engine(database_url)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0001")
        assert database.current_revision(engine) == "0001"
    finally:
        engine.dispose()

    result = CliRunner().invoke(cli, ["db", "upgrade", "--url", database_url])
    assert result.exit_code == 0, result.output
    assert f"upgraded from 0001 to {database.SCHEMA_HEAD}" in result.output

    app = tq.App(database_url, auto_migrate=False)
    try:
        api = app.register(two_tasks()).api()
        (_, second) = api.list_work_items(workflow_id)
        api.internal_complete_work_item(second.id)
        assert api.get_workflow_state(workflow_id) == "completed"
    finally:
        app.close()
