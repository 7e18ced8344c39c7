"""examples/expense_approval.py: employees, managers, finance and an agent working from their
queues, on both databases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from examples.expense_approval import Session

import tasquencer as tq
from examples import expense_approval as ex
from tasquencer import testing
from tests.conftest import postgres
from tests.helpers import dump


@pytest.fixture
def expenses(backend: str, tmp_path) -> Iterator[tuple[testing.TestApp, tq.WorkflowApi]]:
    if backend == "sqlite":
        app = testing.create_app(tmp_path / "expenses.db", auth=ex.AUTH)
    else:
        server = postgres()
        if server.url is None:
            pytest.skip(f"NO POSTGRESQL SERVER: {server.problem}")
        app = testing.create_app(url=server.url, auth=ex.AUTH)
    yield app, ex.build(app)
    app.close()


def titles(app: tq.App, who: str) -> list[str | None]:
    return [item.title for item in ex.queue_of(app, who)]


def submit(api: tq.WorkflowApi, who: str, amount: int, description: str) -> str:
    return api.initialize_root_workflow(
        {"amount": amount, "description": description}, user=Session(who)
    )


def test_each_person_sees_and_does_their_part_and_both_expenses_are_paid(expenses):
    app, api = expenses
    lunch = submit(api, "erin", 80, "team lunch")
    laptop = submit(api, "erin", 1800, "laptop")
    assert titles(app, "mia") == [
        "Approve 1800 for erin: laptop",
        "Approve 80 for erin: team lunch",
    ]
    assert titles(app, "erin") == titles(app, "fred") == titles(app, "payments") == []
    ex.work_on(app, api, "mia", {"approve": True})
    assert titles(app, "fred") == ["Review 1800 for erin"]
    ex.work_on(app, api, "mia", {"approve": True})
    assert titles(app, "payments") == ["Pay 80 to erin"]
    ex.work_on(app, api, "fred", {"approve": False})
    assert titles(app, "erin") == ["Revise your expense: laptop"]
    ex.work_on(app, api, "erin", {"amount": 1400, "description": "laptop (refurbished)"})
    (again,) = ex.queue_of(app, "mia")
    assert again.title == "Approve 1400 for erin: laptop (refurbished)"
    assert api.get_workflow_snapshot(laptop).tasks["manager_approval"].generation == 2
    ex.work_on(app, api, "mia", {"approve": True})
    ex.work_on(app, api, "fred", {"approve": True})
    ex.work_on(app, api, "payments")
    ex.work_on(app, api, "payments")
    assert api.get_workflow_state(lunch) == api.get_workflow_state(laptop) == "completed"
    assert all(ex.queue_of(app, who) == [] for who in ex.PEOPLE)


def test_starting_claims_the_approval_for_the_manager_alone(expenses):
    app, api = expenses
    app.auth.add_member("managers", "max")
    ex.PEOPLE["max"] = tq.User("max", "Max (manager)")
    try:
        submit(api, "erin", 80, "team lunch")
        (item,) = ex.queue_of(app, "max")
        api.start_work_item(item.work_item_id, user=Session("mia"))
        assert ex.queue_of(app, "max") == []
        assert [i.work_item_id for i in app.queues.claimed_by(Session("mia"))] == [
            item.work_item_id
        ]
        with pytest.raises(tq.WorkItemAlreadyClaimedError, match="claimed by 'mia'"):
            api.complete_work_item(item.work_item_id, {"approve": False}, user=Session("max"))
    finally:
        del ex.PEOPLE["max"]


def test_a_manager_may_not_approve_their_own_expense(expenses):
    app, api = expenses
    workflow_id = submit(api, "mia", 300, "conference")
    (item,) = api.list_work_items(workflow_id)
    before = dump(app)
    with pytest.raises(tq.ForbiddenError, match="'mia'"):
        api.start_work_item(item.id, user=Session("mia"))
    assert dump(app) == before


def test_nobody_but_the_right_people_can_act(expenses):
    app, api = expenses
    with pytest.raises(tq.AuthenticationRequiredError):
        submit(api, "stranger", 10, "coffee")  # the provider knows no such user
    workflow_id = submit(api, "erin", 80, "team lunch")
    (approval,) = api.list_work_items(workflow_id)
    with pytest.raises(tq.ForbiddenError):
        api.start_work_item(approval.id, user=Session("erin"))
    with pytest.raises(tq.ForbiddenError):
        api.start_work_item(approval.id, user=Session("fred"))
    ex.work_on(app, api, "mia", {"approve": True})
    (payout,) = ex.queue_of(app, "payments")
    with pytest.raises(tq.ForbiddenError):
        api.start_work_item(payout.work_item_id, user=Session("fred"))  # people do not pay


def test_main_runs(tmp_path, capsys):
    statuses = ex.main(tmp_path / "expenses.db")
    assert statuses == {"team lunch": "paid", "laptop (refurbished)": "paid"}
    assert "Revise your expense: laptop" in capsys.readouterr().out
