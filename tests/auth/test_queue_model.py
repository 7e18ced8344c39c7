"""A property: whatever users hold and whatever is offered, `available_for(user)` lists exactly
the open, unclaimed work items whose offer reaches the user, in queue order."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from itertools import count

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tasquencer as tq
from tests.auth.support import PHYSICIAN, READ, TRIAGE, offered, register, single_task

GROUPS = ("g0", "g1", "g2")  # g2 is inactive
ROLES = {"r-triage": (TRIAGE,), "r-read": (READ,), "r-off": (PHYSICIAN,)}  # r-off is inactive


@dataclass
class Person:
    groups: list[tuple[str, bool]]  # (group, membership expired)
    roles: list[tuple[str, bool]]  # (role, assignment expired)


@dataclass
class Model:
    """What the database should hold: every offer made so far, by work item id."""

    offers: dict[str, tq.Offer] = field(default_factory=dict)
    group_ids: dict[str, str] = field(default_factory=dict)

    def reaches(self, offer: tq.Offer, user: str, person: Person) -> bool:
        groups = {self.group_ids[g] for g, expired in person.groups if not expired and g != "g2"}
        scopes = {
            s for r, expired in person.roles if not expired and r != "r-off" for s in ROLES[r]
        }
        return (
            (offer.kind == "user" and offer.target == user)
            or (offer.kind == "scope" and offer.target in scopes)
            or (offer.kind == "group" and offer.target in groups)
        )


people = st.builds(
    Person,
    st.lists(
        st.tuples(st.sampled_from(GROUPS), st.booleans()), max_size=3, unique_by=lambda t: t[0]
    ),
    st.lists(
        st.tuples(st.sampled_from(sorted(ROLES)), st.booleans()),
        max_size=3,
        unique_by=lambda t: t[0],
    ),
)
offers = st.tuples(
    st.sampled_from(["scope", "group", "user", "agent"]),
    st.integers(0, 5),  # which target
    st.integers(-1, 2),  # priority
    st.sampled_from([None, 1, 2]),  # due in hours
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(team=st.lists(people, min_size=1, max_size=3), made=st.lists(offers, min_size=1, max_size=5))
def test_available_for_lists_exactly_what_reaches_each_user(make_app, team, made):
    app, api, model, serial = _world(make_app)
    n = next(serial)
    users = [f"u{n}-{i}" for i in range(len(team))]
    for user, person in zip(users, team, strict=True):
        for group, expired in person.groups:
            app.auth.add_member(group, user, expires_at=app.clock.now() if expired else None)
        for role, expired in person.roles:
            app.auth.assign_role(
                role, user_id=user, expires_at=app.clock.now() if expired else None
            )
    targets = {
        "scope": [TRIAGE, READ, PHYSICIAN],
        "group": list(GROUPS),
        "user": [*users, "nobody"],
        "agent": [""],
    }
    for kind, which, priority, hours in made:
        choices = targets[kind]
        target = choices[which % len(choices)]
        due = None if hours is None else app.clock.now() + timedelta(hours=hours)
        planned.append(tq.Offer(kind, target, priority=priority, due_at=due))  # type: ignore[arg-type]
        workflow_id = api.internal_initialize_root_workflow()
        (item,) = api.list_work_items(workflow_id)
        model.offers[item.id] = tq.Offer(
            kind,  # type: ignore[arg-type]
            model.group_ids[target] if kind == "group" else target,
            priority=priority,
            due_at=due,
        )
    for user, person in zip(users, team, strict=True):
        reached = [i for i, o in model.offers.items() if model.reaches(o, user, person)]
        far = app.clock.now() + timedelta(days=999)
        expected = sorted(
            reached,
            key=lambda i: (-model.offers[i].priority, model.offers[i].due_at or far, i),
        )
        got = [q.work_item_id for q in app.queues.available_for(tq.User(user), limit=1000)]
        assert got == expected


planned: list[tq.Offer] = []
_worlds: dict[int, tuple[tq.App, tq.WorkflowApi, Model, count[int]]] = {}


def _world(make_app) -> tuple[tq.App, tq.WorkflowApi, Model, count[int]]:
    """One app per test run (hypothesis calls the test many times with the same fixture)."""
    key = id(make_app)
    if key not in _worlds:
        _worlds.clear()
        planned.clear()
        app = make_app()
        model = Model()
        for group in GROUPS:
            model.group_ids[group] = app.auth.create_group(group, is_active=group != "g2").id
        for role, scopes in ROLES.items():
            app.auth.create_role(role, scopes, is_active=role != "r-off")
        api = register(app, single_task(offered(lambda ctx: planned.pop(0))))
        _worlds[key] = (app, api, model, count())
    return _worlds[key]
