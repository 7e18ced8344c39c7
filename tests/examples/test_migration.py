"""examples/migration.py: running orders move from v1 to v2, keeping what is done."""

from __future__ import annotations

import examples.migration as example


def test_picked_orders_skip_picking_and_every_migrated_order_gets_packing(app):
    registered = example.build(app)
    app.query(example.histories)
    v1, v2 = registered.api("v1"), registered.api("v2")
    picked, waiting = v1.initialize_root_workflow("A-1"), v1.initialize_root_workflow("A-2")
    example.finish(v1, picked, "pick")

    outcomes = app.migrate_all("order", from_version="v1", to_version="v2")

    assert [o.workflow_id for o in outcomes] == [picked, waiting]
    new_picked, new_waiting = (o.new_workflow_id for o in outcomes)
    assert v2.get_workflow_task_states(new_picked) == {
        "pick": "completed",
        "pack": "enabled",
        "ship": "disabled",
    }
    assert v2.get_workflow_task_states(new_waiting) == {
        "pick": "enabled",
        "pack": "disabled",
        "ship": "disabled",
    }
    assert [i.task_name for i in v2.list_work_items(new_picked)] == ["pack"]
    assert v1.get_workflow_state(picked) == "canceled"
    assert v2.get_workflow_snapshot(new_picked).migrated_from == picked

    for task in ("pack", "ship"):
        example.finish(v2, new_picked, task)
    assert v2.get_workflow_state(new_picked) == "completed"
    assert app.run_query(example.histories)["A-1"] == "migrated to v2; ended completed"
    assert app.run_query(example.histories)["A-2"] == "migrated to v2; "


def test_the_example_runs_end_to_end(tmp_path):
    assert example.main(tmp_path / "migration.db") == {
        "A-1": "migrated to v2; ended completed",
        "A-2": "migrated to v2; ended completed",
    }
