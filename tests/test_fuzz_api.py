"""Arbitrary JSON-like values and ids thrown at every method of the API: only the engine's own
errors (`TasquencerError`) or a `ValueError` / `TypeError` naming the argument come out, and a
refused call leaves the database exactly as it was."""

from __future__ import annotations

import inspect
from typing import Any

import pydantic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tasquencer as tq
from tasquencer import Builder
from tests.helpers import auto_task, dump

ALLOWED = (tq.TasquencerError, ValueError, TypeError)


class Decision(pydantic.BaseModel):
    approve: bool
    note: str = ""


def decide(ctx: tq.WorkItemActionContext, decision: Decision) -> None:
    ctx.work_item.complete()


def create_child(ctx: tq.CompositeTaskActivityContext) -> None:
    ctx.workflow.initialize()


def workflow() -> tq.builder.WorkflowBuilder:
    review = Builder.work_item("review").with_actions(
        Builder.work_item_actions().complete(Decision, decide)
    )
    child = (
        Builder.workflow("child")
        .start_condition("s")
        .end_condition("e")
        .task("c", auto_task())
        .connect_condition("s", lambda to: to.task("c"))
        .connect_task("c", lambda to: to.condition("e"))
    )
    return (
        Builder.workflow("wf")
        .start_condition("start")
        .end_condition("end")
        .task("review", auto_task(review.with_activities(on_initialized=lambda c: None)))
        .composite_task(
            "legal", Builder.composite_task(child).with_activities(on_enabled=create_child)
        )
        .connect_condition("start", lambda to: to.task("review").task("legal"))
        .connect_task("review", lambda to: to.condition("end"))
        .connect_task("legal", lambda to: to.condition("end"))
    )


json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(alphabet=st.characters(), max_size=30),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(alphabet=st.characters(), max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
METHODS = sorted(
    name
    for name, member in vars(tq.WorkflowApi).items()
    if not name.startswith("_") and callable(member)
)


def known_ids(api: tq.WorkflowApi, workflow_id: str) -> list[object]:
    snapshot = api.get_workflow_snapshot(workflow_id)
    return [
        workflow_id,
        *(item.id for item in snapshot.work_items),
        *(child.id for child in snapshot.child_workflows),
        {
            "path": ["wf", "review", "review"],
            "parent_workflow_id": workflow_id,
            "parent_task_name": "review",
        },
    ]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_every_api_method_refuses_bad_input_cleanly_and_changes_nothing(app, data):
    if not app.is_registered("wf"):
        app.register(workflow())
    api = app.workflows["wf"].api()
    workflows = api.list_workflows()
    workflow_id = workflows[0].id if workflows else api.internal_initialize_root_workflow()
    ids = known_ids(api, workflow_id)

    method_name = data.draw(st.sampled_from(METHODS), label="method")
    method = getattr(api, method_name)
    parameters = [p for p in inspect.signature(method).parameters.values() if p.name != "ctx"]
    arguments: dict[str, Any] = {}
    for parameter in parameters:
        if parameter.default is not inspect.Parameter.empty and data.draw(st.booleans()):
            continue
        arguments[parameter.name] = data.draw(
            json_like | st.sampled_from(ids), label=parameter.name
        )
    before = dump(app)
    try:
        method(**arguments)
    except ALLOWED:
        assert dump(app) == before, f"{method_name}({arguments!r}) was refused but wrote"
    except Exception as error:  # the property: nothing else may come out
        raise AssertionError(
            f"{method_name}({arguments!r}) raised {type(error).__name__}: {error}"
        ) from error
