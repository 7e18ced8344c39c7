"""The debugger in a real browser: Debian's headless Chromium driven by Playwright, against the
support desk served by uvicorn on SQLite."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

import tasquencer as tq
from examples import support_desk
from tests.web.conftest import as_user, desk_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags for a container without a display, a GPU or a user namespace sandbox.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


@dataclass
class Served:
    url: str
    app: tq.App
    api: tq.WorkflowApi
    cases: dict[str, str]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("no Chromium: `make install` installs Debian's chromium package (as root)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def served(tmp_path) -> Iterator[Served]:
    app = desk_app(tmp_path / "desk.db")
    api = support_desk.build(app)
    cases = support_desk.seed(api)
    with tq.testing.serve(tq.web.create_app(app)) as url:
        yield Served(url, app, api, cases)
    app.close()


def open_page(browser: Browser, headers: dict[str, str]) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": 1500, "height": 900}, extra_http_headers=headers
    )
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    yield opened
    context.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page of Ada's, who holds the support role (she may triage)."""
    yield from open_page(browser, as_user("ada"))


@pytest.fixture
def anonymous_page(browser: Browser) -> Iterator[Page]:
    yield from open_page(browser, {})


def has_class(css_class: str) -> re.Pattern[str]:
    """Matches a class attribute that has `css_class` among its classes."""
    return re.compile(rf"(^|\s){re.escape(css_class)}(\s|$)")


def task(page: Page, name: str):
    return page.locator(f'#graph .node.task[data-name="{name}"]')


def test_the_case_list_leads_to_a_case_drawn_in_its_state(page: Page, served: Served):
    page.goto(f"{served.url}/debugger")
    expect(page.locator("#cases tbody tr")).to_have_count(4)

    page.click(f"text={served.cases['escalated']}")

    expect(page.locator("h1")).to_contain_text("support_ticket")
    expect(task(page, "triage")).to_have_attribute("data-state", "completed")
    expect(task(page, "investigate")).to_have_attribute("data-state", "started")
    expect(task(page, "keep_informed")).to_have_attribute("data-state", "enabled")
    expect(page.locator('#graph .marking[data-condition="withdrawable"]').first).to_have_text("1")
    # enabled tasks are drawn in their own colour
    fill = (
        task(page, "keep_informed")
        .locator("rect")
        .first.evaluate("rect => getComputedStyle(rect).fill")
    )
    assert fill == "rgb(207, 230, 255)"


def test_the_case_list_filters_by_state(page: Page, served: Served):
    page.goto(f"{served.url}/debugger")

    page.select_option("select[name=state]", "completed")
    page.click("button[type=submit]")

    expect(page.locator("#cases tbody tr")).to_have_count(2)
    expect(page.locator("#cases tbody tr[data-state=started]")).to_have_count(0)


def test_hovering_a_region_owner_highlights_what_it_cancels(page: Page, served: Served):
    page.goto(f"{served.url}/debugger/cases/{served.cases['new']}")

    task(page, "withdraw").hover()

    expect(task(page, "triage")).to_have_class(has_class("highlight"))
    expect(page.locator('#graph .node.condition[data-name="open"]')).to_have_class(
        has_class("highlight")
    )
    expect(page.locator("#graph .node.highlight")).to_have_count(len(support_desk.WORK) + 1)
    page.mouse.move(5, 5)
    expect(page.locator("#graph .node.highlight")).to_have_count(0)


def test_a_composite_task_drills_into_its_child_and_back(page: Page, served: Served):
    page.goto(f"{served.url}/debugger/cases/{served.cases['escalated']}")

    task(page, "investigate").locator("a.drill").click()

    expect(page.locator("h1")).to_contain_text("investigation")
    expect(task(page, "reproduce")).to_have_attribute("data-state", "completed")
    page.click(".crumbs a")
    expect(page.locator("h1")).to_contain_text("support_ticket")


def test_a_work_item_is_worked_through_the_action_buttons(page: Page, served: Served):
    case = served.cases["new"]
    page.goto(f"{served.url}/debugger/cases/{case}")
    triage = page.locator("#work-items tr", has_text="triage")

    triage.locator("button[data-action=start]").click()
    expect(triage.locator(".pill")).to_have_text("started")
    triage.locator("button[data-action=complete]").click()
    payload = page.locator("#action-form textarea")
    expect(payload).to_have_value('{\n  "severity": "low"\n}')
    payload.fill('{"severity": "high"}')
    page.click("#action-form button[type=submit]")

    expect(task(page, "escalate")).to_have_attribute("data-state", "completed")
    expect(task(page, "investigate")).to_have_attribute("data-state", "enabled")
    expect(task(page, "investigate").locator("a.drill")).to_have_count(1)  # its child exists
    assert served.api.get_workflow_task_states(case)["triage"] == "completed"


def test_a_refused_action_shows_the_problem_and_changes_nothing(page: Page, served: Served):
    case = served.cases["new"]
    (triage,) = served.api.list_work_items(case, task_name="triage")
    served.api.start_work_item(triage.id, user=support_desk.STAFF["ada"])
    before = served.api.get_workflow_snapshot(case)
    page.goto(f"{served.url}/debugger/cases/{case}")

    page.locator(f'#work-items tr[data-id="{triage.id}"] button[data-action=complete]').click()
    page.locator("#action-form textarea").fill('{"severity": "urgent"}')
    page.click("#action-form button[type=submit]")

    expect(page.locator("#action-problem")).to_contain_text("422")
    expect(page.locator("#action-problem")).to_contain_text("severity")
    assert served.api.get_workflow_snapshot(case) == before


def test_a_work_item_is_claimed_and_released_through_the_ui(page: Page, served: Served):
    case = served.cases["new"]
    page.goto(f"{served.url}/debugger/cases/{case}")
    expect(page.locator("#me")).to_have_text("signed in as Ada (support)")
    triage = page.locator("#work-items tr", has_text="triage")
    expect(triage.locator("td.offer")).to_have_text("scope desk:triage")
    expect(triage.locator("td.claim")).to_have_text("")

    triage.locator("button[data-action=claim]").click()

    expect(triage.locator("td.claim")).to_have_text("ada")
    (claimed,) = served.app.queues.claimed_by(support_desk.STAFF["ada"])
    assert claimed.work_item_id == triage.get_attribute("data-id")
    assert served.app.queues.available_for(support_desk.STAFF["grace"]) == []
    triage.locator("button[data-action=release]").click()
    expect(triage.locator("td.claim")).to_have_text("")
    assert served.app.queues.claimed_by(support_desk.STAFF["ada"]) == []


def test_an_action_guarded_by_a_policy_is_refused_to_nobody(anonymous_page: Page, served: Served):
    case = served.cases["new"]
    before = served.api.get_workflow_snapshot(case)
    anonymous_page.goto(f"{served.url}/debugger/cases/{case}")
    expect(anonymous_page.locator("#me")).to_have_text("not signed in")
    triage = anonymous_page.locator("#work-items tr", has_text="triage")
    expect(triage.locator("button[data-action=claim]")).to_have_count(0)

    triage.locator("button[data-action=start]").click()

    expect(anonymous_page.locator("#action-problem")).to_contain_text("401")
    assert served.api.get_workflow_snapshot(case) == before


def test_the_timeline_shows_the_case_as_it_was_after_each_step(page: Page, served: Served):
    case = served.cases["answered"]
    page.goto(f"{served.url}/debugger/cases/{case}")
    slider = page.locator("#tl-slider")
    steps = int(slider.get_attribute("max") or 0) + 1
    assert steps == 5  # opened, triage taken and decided, answer taken and given
    expect(task(page, "close")).to_have_attribute("data-state", "completed")

    slider.fill("0")  # back to the start: the ticket was just opened
    expect(task(page, "triage")).to_have_attribute("data-state", "enabled")
    expect(task(page, "answer")).to_have_attribute("data-state", "disabled")
    expect(page.locator("#past")).to_be_visible()
    expect(page.locator("#case-state")).to_have_text("started")
    expect(page.locator("#tl-label")).to_contain_text("step 1 of 5")
    expect(page.locator("#history tr.later").first).to_be_visible()

    page.click("#tl-next")
    expect(task(page, "triage")).to_have_attribute("data-state", "started")
    page.click("#tl-next")
    expect(task(page, "answer")).to_have_attribute("data-state", "enabled")
    page.click("#tl-prev")
    expect(task(page, "answer")).to_have_attribute("data-state", "disabled")
    assert "at=" in page.url

    page.click("#tl-play")  # plays to the last step: the case as it is now
    expect(task(page, "close")).to_have_attribute("data-state", "completed", timeout=15_000)
    expect(page.locator("#past")).to_have_count(0)
    expect(page.locator("#case-state")).to_have_text("completed")
    expect(page.locator("#tl-play")).to_have_text("play", timeout=5_000)
    expect(page.locator("#history tr.later")).to_have_count(0)
