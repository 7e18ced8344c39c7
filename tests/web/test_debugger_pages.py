"""The debugger's pages as HTML: the case list and its filters, the case view's graph, and
errors shown as pages."""

from __future__ import annotations

import re

from tests.web.conftest import ITEMS, Desk


def rows(html: str) -> list[str]:
    """The case ids listed on a case list page."""
    return re.findall(r'class="case-link" href="[^"]*/debugger/cases/(\w+)"', html)


def task_state(html: str, task: str) -> str:
    found = re.search(rf'data-name="{task}" data-state="(\w+)"', html)
    assert found, f"no task {task} on the page"
    return found.group(1)


def node(html: str, name: str) -> str:
    """The markup of one node of the graph."""
    found = re.search(rf'<g class="node[^"]*" data-name="{name}".*?</g>', html, re.DOTALL)
    assert found, f"no node {name} on the page"
    return found.group(0)


def test_the_case_list_shows_every_case_newest_first(desk: Desk):
    page = desk.client.get("/debugger")

    assert page.status_code == 200
    listed = rows(page.text)
    assert sorted(listed) == sorted(desk.cases.values())
    assert listed == sorted(listed, reverse=True)


def test_the_home_page_leads_to_the_case_list(desk: Desk):
    response = desk.client.get("/", follow_redirects=False)

    assert response.status_code == 307
    assert response.headers["location"].endswith("/debugger")


def test_the_case_list_filters_by_state_and_workflow(desk: Desk):
    completed = rows(desk.client.get("/debugger", params={"state": "completed"}).text)
    other = desk.client.get("/debugger", params={"workflow": "no_such_workflow"}).text

    assert sorted(completed) == sorted([desk.cases["answered"], desk.cases["withdrawn"]])
    assert rows(other) == [] and "no cases" in other


def test_a_bad_filter_is_a_422_page(desk: Desk):
    response = desk.client.get("/debugger", params={"state": "asleep"})

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert "asleep" in response.text


def test_the_case_view_draws_each_task_in_its_state(desk: Desk):
    page = desk.client.get(f"/debugger/cases/{desk.cases['escalated']}").text

    assert task_state(page, "triage") == "completed"
    assert task_state(page, "investigate") == "started"
    assert task_state(page, "keep_informed") == "enabled"
    assert task_state(page, "answer") == "disabled"
    # the tokens: one in the declared condition, one on the edge to keep_informed
    assert re.search(r'data-condition="withdrawable" dy="5">1<', page)
    assert re.search(r'data-condition="escalate__to__keep_informed"[^>]*>1<', page)


def test_the_case_view_shows_gates_regions_and_work_items(desk: Desk):
    page = desk.client.get(f"/debugger/cases/{desk.cases['escalated']}").text

    assert ">xor split<" in node(page, "triage") and "join<" not in node(page, "triage")
    assert ">xor join<" in node(page, "close")
    assert ">and join<" not in node(page, "resolve")  # AND is the default: not labelled
    assert "region" in node(page, "withdraw") and "region" not in node(page, "triage")
    assert '"withdraw": {"conditions"' in page.replace("&#34;", '"')
    for item in desk.api.list_work_items(desk.cases["escalated"]):
        assert f'data-id="{item.id}"' in page


def test_a_composite_task_leads_to_its_child_and_the_child_back_to_its_parent(desk: Desk):
    case = desk.cases["escalated"]
    (child,) = desk.api.list_child_workflows(case, "investigate")
    page = desk.client.get(f"/debugger/cases/{case}").text

    assert re.search(rf'href="[^"]*/debugger/cases/{child.id}" class="drill"', page)
    child_page = desk.client.get(f"/debugger/cases/{child.id}").text
    assert task_state(child_page, "reproduce") == "completed"
    assert task_state(child_page, "fix") == "enabled"
    assert re.search(rf'class="crumbs">\s*<a href="[^"]*/debugger/cases/{case}">', child_page)


def test_an_unknown_case_is_a_404_page(desk: Desk):
    response = desk.client.get("/debugger/cases/01ARZ3NDEKTSV4RRFFQ69G5FAV")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "01ARZ3NDEKTSV4RRFFQ69G5FAV" in response.text


def actions_of(html: str, item_id: str) -> list[str]:
    row = re.search(rf'<tr data-id="{item_id}">.*?</tr>', html, re.DOTALL)
    assert row, f"no work item {item_id} on the page"
    return re.findall(r'data-action="(\w+)"', row.group(0))


def test_each_open_work_item_offers_the_public_actions_its_state_allows(desk: Desk):
    case = desk.cases["escalated"]
    keep_informed = desk.item(case, "keep_informed")
    (triage,) = desk.api.list_work_items(case, task_name="triage")
    desk.api.start_work_item(keep_informed.id)

    page = desk.client.get(f"/debugger/cases/{case}").text

    # keep_informed is started: complete (custom); fail, reset and cancel are default actions
    assert actions_of(page, keep_informed.id) == ["complete"]
    assert actions_of(page, desk.item(case, "withdraw").id) == ["start"]
    assert actions_of(page, triage.id) == []  # completed
    route = f"{ITEMS}/keep_informed/keep_informed/{keep_informed.id}/complete"
    assert f'data-url="http://testserver{route}"' in page


def test_a_child_workflows_work_items_act_through_their_nested_routes(desk: Desk):
    (child,) = desk.api.list_child_workflows(desk.cases["escalated"], "investigate")
    fix = desk.item(child.id, "fix")

    page = desk.client.get(f"/debugger/cases/{child.id}").text

    nested = f"/work-items/investigate/investigation/fix/fix/{fix.id}/start"
    assert nested in page and actions_of(page, fix.id) == ["start"]
