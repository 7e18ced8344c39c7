"""Migration 0006 adds the audit tables to a database made at schema 0005 without touching
what it holds; cases begun before the audit trail go on, recorded from then on."""

from __future__ import annotations

import tasquencer as tq
from tasquencer.runtime.clock import FakeClock
from tasquencer.store import database
from tests.audit.test_recording import reviewed
from tests.helpers import dump


def test_a_0005_database_with_a_case_in_flight_upgrades_and_the_case_is_audited_after(
    database_url,
):
    engine = database.create_engine(database_url)
    try:
        database.upgrade_schema(engine, "0005")
    finally:
        engine.dispose()
    clock = FakeClock()
    with tq.App(database_url, auto_migrate=False, audit=None, clock=clock) as old:
        api = old.register(reviewed()).api()
        case = api.internal_initialize_root_workflow()
        (item,) = api.list_work_items(case)
        api.internal_start_work_item(item.id)
        before = dump(old)

    engine = database.create_engine(database_url)
    try:
        database.upgrade_schema(engine)  # what `tasquencer db upgrade` does
        assert database.current_revision(engine) == database.SCHEMA_HEAD
    finally:
        engine.dispose()

    with tq.App(database_url, auto_migrate=False, clock=clock) as app:
        after = dump(app)
        version = "tasquencer_alembic_version"
        assert (before.pop(version), after.pop(version)) == ([("0005",)], [("0006",)])
        assert {name: after[name] for name in before} == before
        assert {name for name in after if name not in before} == {
            "tasquencer_audit_traces",
            "tasquencer_audit_spans",
            "tasquencer_audit_checkpoints",
        }
        api = app.register(reviewed()).api()
        clock.advance(1)
        api.complete_work_item(item.id, {})
        assert api.get_workflow_state(case) == "completed"
        history = api.get_workflow_history(case)
        assert [e.operation for e in history] == [
            "WorkItem.complete",
            "Task.complete",
            "Workflow.complete",
        ]
        # The trail starts after the upgrade: earlier states cannot be rebuilt from it.
        try:
            api.get_workflow_state_at(case, clock.now())
        except tq.AuditRecordMissingError as error:
            assert case in str(error)
        else:
            raise AssertionError("a case begun before the audit trail has no past states")
        assert app.prune_audit(older_than=0) == 1
