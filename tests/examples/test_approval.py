"""examples/approval.py: the README's example, on both databases."""

import pytest

import tasquencer as tq
from examples import approval


def test_an_approved_review_is_published(app):
    api = approval.build(app)
    workflow_id = api.internal_initialize_root_workflow()
    (item,) = api.list_work_items(workflow_id, task_name="review")

    api.complete_work_item(item.id, {"approve": True})

    states = api.get_workflow_task_states(workflow_id)
    assert (states["review"], states["publish"], states["reject"]) == (
        "completed",
        "started",
        "disabled",
    )


def test_a_rejected_review_goes_to_reject(app):
    api = approval.build(app)
    workflow_id = api.internal_initialize_root_workflow()
    (item,) = api.list_work_items(workflow_id, task_name="review")

    api.complete_work_item(item.id, {"approve": False})

    assert api.get_workflow_task_states(workflow_id)["reject"] == "started"


def test_a_decision_without_its_field_is_refused_and_changes_nothing(app):
    api = approval.build(app)
    workflow_id = api.internal_initialize_root_workflow()
    (item,) = api.list_work_items(workflow_id, task_name="review")
    before = api.get_workflow_snapshot(workflow_id)

    with pytest.raises(tq.PayloadValidationError, match="approve"):
        api.complete_work_item(item.id, {"approved": "yes"})

    assert api.get_workflow_snapshot(workflow_id) == before


def test_main_runs(tmp_path, capsys):
    approval.main(tmp_path / "approval.db")
    assert "completed" in capsys.readouterr().out
