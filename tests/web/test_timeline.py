"""The audit trail over HTTP (history, spans, the state at a time) and the debugger's timeline:
a case shown as it was after each step of its history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.web.conftest import Desk
from tests.web.test_http_api import assert_problem


def history_of(desk: Desk, case: str) -> list[dict]:
    response = desk.client.get(f"/api/instances/{case}/history")
    assert response.status_code == 200, response.text
    return response.json()


def test_the_history_lists_what_happened_with_who_did_it(desk: Desk):
    history = history_of(desk, desk.cases["answered"])

    assert history[0]["operation"] == "Workflow.initialize"
    assert history[-1]["operation"] == "Workflow.complete"
    triage = [e for e in history if e["element"] == "triage"]
    assert [(e["operation"], e["user_id"]) for e in triage] == [
        ("Task.enable", None),
        ("Task.start", "ada"),
        ("Task.complete", "ada"),
    ]
    times = [datetime.fromisoformat(e["at"]) for e in history]
    assert times == sorted(times)


def test_the_state_at_a_past_time_is_the_state_the_case_was_in(desk: Desk):
    case = desk.cases["answered"]
    history = history_of(desk, case)
    created = history[0]["at"]
    triaged = next(e["at"] for e in history if e["operation"] == "Task.complete")  # receive
    before_answer = next(
        e["at"] for e in history if (e["operation"], e["element"]) == ("Task.start", "answer")
    )

    first = desk.client.get(f"/api/instances/{case}/state-at", params={"at": created}).json()
    later = desk.client.get(
        f"/api/instances/{case}/state-at",
        params={"at": (datetime.fromisoformat(before_answer) - timedelta(microseconds=1))},
    ).json()

    assert first["state"] == "started"
    assert first["tasks"]["triage"]["state"] == "enabled"
    assert first["tasks"]["answer"]["state"] == "disabled"
    assert triaged <= before_answer
    assert later["tasks"]["triage"]["state"] == "completed"
    assert later["tasks"]["answer"]["state"] == "enabled"
    now = desk.client.get(f"/api/instances/{case}").json()
    at_the_end = desk.client.get(
        f"/api/instances/{case}/state-at", params={"at": history[-1]["at"]}
    ).json()
    assert at_the_end == now


def test_the_state_at_refuses_a_time_without_offset_or_before_the_case(desk: Desk):
    """A time without offset is refused; one before the case finds no state (404)."""
    case = desk.cases["new"]
    route = f"/api/instances/{case}/state-at"

    assert_problem(desk.client.get(route, params={"at": "2026-12-01T10:00:00"}), 422, "at")
    assert_problem(desk.client.get(route), 422, "at")
    long_ago = datetime(2000, 1, 1, tzinfo=UTC).isoformat()
    assert_problem(desk.client.get(route, params={"at": long_ago}), 404, case)
    # Found by schemathesis: year 1 east of UTC is year 0 in UTC, which no datetime holds; it
    # is a valid date-time all the same, before the case like any time of year 1.
    year_zero = "0001-01-01T00:00:00+01:00"
    assert_problem(desk.client.get(route, params={"at": year_zero}), 404, case)
    past_9999 = "9999-12-31T23:59:59-01:00"  # year 10000 in UTC: after every change
    latest = desk.client.get(route, params={"at": past_9999})
    assert latest.status_code == 200, latest.text
    assert latest.json() == desk.client.get(f"/api/instances/{case}").json()
    # Also found by schemathesis: a number would be taken for seconds since 1970.
    assert_problem(desk.client.get(route, params={"at": "9081"}), 422, "not an ISO 8601 time")


def test_the_spans_of_a_case_nest_the_changes_in_the_calls_that_made_them(desk: Desk):
    spans = desk.client.get(f"/api/instances/{desk.cases['new']}/spans").json()

    assert spans, "a case has spans"
    assert all(span["parent_seq"] is None for span in spans)
    assert any(span["children"] for span in spans)
    seqs = [span["seq"] for span in spans]
    assert seqs == sorted(seqs)


def test_the_case_page_shows_the_past_without_actions(desk: Desk):
    case = desk.cases["answered"]
    created = history_of(desk, case)[0]["at"]

    past = desk.client.get(f"/debugger/cases/{case}", params={"at": created})
    now = desk.client.get(f"/debugger/cases/{case}")

    assert past.status_code == 200, past.text
    assert 'id="past"' in past.text
    assert 'data-name="triage" data-state="enabled"' in past.text
    assert "button" not in past.text.split('id="work-items"')[1].split("</table>")[0]
    assert 'id="past"' not in now.text
    assert 'data-name="triage" data-state="completed"' in now.text
    assert 'id="timeline"' in now.text and 'id="history"' in now.text
