"""Work queues: offers made by the builder, by a function or by `ctx.work_item.offer`, what
each queue shows across workflows and generations, filters, order and pages, and offers
withdrawn when their work item is canceled, its task torn down or its workflow canceled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

import tasquencer as tq
from tasquencer import Builder
from tests.auth.support import (
    AGENT,
    ANN,
    BOB,
    TRIAGE,
    offered,
    one_work_item,
    only_item,
    register,
    single_task,
    staff,
)
from tests.helpers import dump


def ids(items: list[tq.QueueItem]) -> list[str]:
    return [i.work_item_id for i in items]


def test_a_builder_offer_puts_each_new_work_item_in_the_queue_with_its_display_data(auth_app):
    staff(auth_app)
    due = auth_app.clock.now() + timedelta(hours=4)
    offer = tq.Offer.to_scope(TRIAGE, title="Triage", priority=2, due_at=due, payload={"bed": 7})
    api = register(auth_app, single_task(offered(offer)))
    workflow_id = api.internal_initialize_root_workflow()
    (entry,) = auth_app.queues.available_for(ANN)
    assert entry == tq.QueueItem(
        work_item_id=only_item(api, workflow_id),
        work_item_name="item",
        workflow_id=workflow_id,
        root_workflow_id=workflow_id,
        workflow_name="wf",
        task_name="work",
        state="initialized",
        offer_kind="scope",
        offer_target=TRIAGE,
        title="Triage",
        priority=2,
        due_at=due,
        payload={"bed": 7},
        claimed_by=None,
        claimed_at=None,
        offered_at=auth_app.clock.now(),
    )
    assert auth_app.queues.available_for(BOB) == []
    assert auth_app.queues.get(entry.work_item_id) == entry


def test_an_offer_function_computes_the_offer_from_the_work_item_s_ctx(auth_app):
    staff(auth_app)

    def offer(ctx: tq.WorkItemActivityContext) -> tq.Offer | None:
        if ctx.parent.task.generation > 1:
            return None
        return tq.Offer.to_user(ANN.id, title=f"{ctx.work_item.name} of {ctx.parent.workflow.id}")

    api = register(auth_app, single_task(offered(offer)))
    workflow_id = api.internal_initialize_root_workflow()
    (entry,) = auth_app.queues.available_for(ANN)
    assert (entry.offer_kind, entry.title) == ("user", f"item of {workflow_id}")


def test_the_initialize_action_and_on_initialized_can_offer_and_replace_the_builder_offer(auth_app):
    staff(auth_app)

    def initialize(ctx: tq.WorkItemActionContext, title: str) -> None:
        ctx.work_item.offer(tq.Offer.to_user(BOB.id, title=title))

    def on_initialized(ctx: tq.WorkItemActivityContext) -> None:
        if reoffer:
            ctx.work_item.offer(tq.Offer.to_user(ANN.id, title="changed"))

    reoffer: list[bool] = []
    item = (
        offered(tq.Offer.to_scope(TRIAGE))
        .with_actions(Builder.work_item_actions().initialize(str, initialize))
        .with_activities(on_initialized=on_initialized)
    )

    def on_enabled(ctx: tq.TaskActivityContext) -> None:
        ctx.work_item.initialize("from the action")

    workflow = (
        Builder.workflow("wf")
        .start_condition("start")
        .end_condition("end")
        .task("work", Builder.task(item).with_activities(on_enabled=on_enabled))
        .connect_condition("start", lambda to: to.task("work"))
        .connect_task("work", lambda to: to.condition("end"))
    )
    api = register(auth_app, workflow)
    api.internal_initialize_root_workflow()
    assert [i.title for i in auth_app.queues.available_for(BOB)] == ["from the action"]
    assert auth_app.queues.available_for(ANN) == []  # the builder's scope offer was replaced
    reoffer.append(True)
    api.internal_initialize_root_workflow()
    assert [i.title for i in auth_app.queues.available_for(ANN)] == ["changed"]
    assert len(auth_app.queues.available_for(BOB)) == 1


def test_offer_is_refused_outside_the_initialize_action_and_on_initialized(auth_app):
    def complete(ctx: tq.WorkItemActionContext, payload: None) -> None:
        ctx.work_item.offer(tq.Offer.to_agents())

    item = Builder.work_item("item").with_actions(
        Builder.work_item_actions().complete(None, complete)
    )
    api = register(auth_app, single_task(item))
    work_item = only_item(api, api.internal_initialize_root_workflow())
    api.internal_start_work_item(work_item)
    with pytest.raises(AttributeError, match="offer is not available in the complete action"):
        api.internal_complete_work_item(work_item)


def test_an_offer_to_a_missing_group_rolls_the_call_back(auth_app):
    api = register(auth_app, single_task(offered(tq.Offer.to_group("nobody"))))
    before = dump(auth_app)
    with pytest.raises(tq.GroupNotFoundError, match="group 'nobody', which does not exist"):
        api.internal_initialize_root_workflow()
    assert dump(auth_app) == before


def test_offers_are_values_checked_when_made():
    with pytest.raises(ValueError, match="non-empty str"):
        tq.Offer.to_scope("")
    with pytest.raises(TypeError, match="due_at must be a datetime"):
        tq.Offer.to_agents(due_at="tomorrow")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timezone-aware"):
        tq.Offer.to_agents(due_at=datetime(2030, 1, 1))
    with pytest.raises(ValueError, match="outside the years 1 to 9999"):
        tq.Offer.to_agents(due_at=datetime.max.replace(tzinfo=timezone(-timedelta(hours=1))))
    with pytest.raises(TypeError, match="priority is an int"):
        tq.Offer.to_user("ann", priority=1.5)  # type: ignore[arg-type]
    with pytest.raises(tq.SerializationError, match="not JSON"):
        tq.Offer.to_user("ann", payload={"at": object()})
    with pytest.raises(ValueError, match="title"):
        tq.Offer.to_user("ann", title="x" * 501)
    with pytest.raises(TypeError, match="with_offer takes"):
        Builder.work_item("item").with_offer("ann")  # type: ignore[arg-type]


def test_group_offers_reach_the_group_s_active_members(auth_app):
    staff(auth_app)
    auth_app.auth.create_group("doctors")
    api = register(auth_app, single_task(offered(tq.Offer.to_group("nurses"))))
    api.internal_initialize_root_workflow()
    assert len(auth_app.queues.available_for(ANN)) == 1
    assert auth_app.queues.available_for(BOB) == []
    assert len(auth_app.queues.for_group("nurses")) == 1
    assert auth_app.queues.for_group("doctors") == []
    auth_app.auth.update_group("nurses", is_active=False)
    assert auth_app.queues.available_for(ANN) == []
    with pytest.raises(tq.GroupNotFoundError):
        auth_app.queues.for_group("surgeons")


def test_agent_offers_are_for_agents_only(auth_app):
    staff(auth_app)
    api = register(auth_app, single_task(offered(tq.Offer.to_agents(title="summarize"))))
    work_item = only_item(api, api.internal_initialize_root_workflow())
    assert auth_app.queues.available_for(ANN) == []
    assert ids(auth_app.queues.available_for_agents()) == [work_item]
    with pytest.raises(tq.WorkItemNotOfferedError, match="offered to agents"):
        auth_app.queues.claim(work_item, user=ANN)
    claimed = auth_app.queues.claim(work_item, user=AGENT)
    assert claimed.claimed_by == AGENT.id
    assert auth_app.queues.available_for_agents() == []
    assert ids(auth_app.queues.claimed_by(AGENT)) == [work_item]


def test_queues_span_workflows_and_filter_by_workflow_task_priority_and_due_date(auth_app):
    staff(auth_app)
    now = auth_app.clock.now()
    first = register(
        auth_app,
        single_task(offered(tq.Offer.to_scope(TRIAGE, priority=1)), name="intake", task="triage"),
    )
    second = register(
        auth_app,
        single_task(
            offered(tq.Offer.to_scope(TRIAGE, priority=5, due_at=now + timedelta(hours=1))),
            name="discharge",
            task="check",
        ),
    )
    a = only_item(first, first.internal_initialize_root_workflow())
    b = only_item(second, second.internal_initialize_root_workflow())
    assert ids(auth_app.queues.available_for(ANN)) == [b, a]  # priority first
    assert ids(auth_app.queues.available_for(ANN, workflow_name="intake")) == [a]
    assert ids(auth_app.queues.available_for(ANN, task_name="check")) == [b]
    assert ids(auth_app.queues.available_for(ANN, min_priority=2)) == [b]
    assert ids(auth_app.queues.available_for(ANN, due_before=now + timedelta(hours=2))) == [b]
    assert auth_app.queues.available_for(ANN, due_before=now) == []
    # `a` has no due date (stored as the last day of 9999): not due before any time at all
    end_of_time = datetime(9999, 12, 31, 23, tzinfo=UTC)
    assert ids(auth_app.queues.available_for(ANN, due_before=end_of_time)) == [b]


def test_queues_order_by_priority_then_due_date_then_id_and_page_by_keyset(auth_app):
    staff(auth_app)
    now = auth_app.clock.now()
    plan = [(0, None), (3, 2), (3, 1), (3, None), (1, 1), (0, 5)]
    made: dict[str, tuple[int, int | None]] = {}
    queue: list[tuple[int, int | None]] = list(plan)

    def offer(ctx: tq.WorkItemActivityContext) -> tq.Offer:
        priority, hours = queue.pop(0)
        made[ctx.work_item.id] = (priority, hours)
        due = None if hours is None else now + timedelta(hours=hours)
        return tq.Offer.to_scope(TRIAGE, priority=priority, due_at=due)

    api = register(auth_app, single_task(offered(offer)))
    for _ in plan:
        api.internal_initialize_root_workflow()
    expected = sorted(
        made, key=lambda i: (-made[i][0], made[i][1] if made[i][1] is not None else 1e9, i)
    )
    assert ids(auth_app.queues.available_for(ANN)) == expected
    pages: list[str] = []
    after = None
    while True:
        page = auth_app.queues.available_for(ANN, limit=4, after=after)
        if not page:
            break
        pages.extend(ids(page))
        after = page[-1].work_item_id
    assert pages == expected
    with pytest.raises(tq.WorkItemNotFoundError, match="never offered"):
        auth_app.queues.available_for(ANN, after="nothing")


def test_claimed_work_items_leave_the_available_queue_for_the_claimant_s(auth_app):
    staff(auth_app)
    auth_app.auth.add_member("nurses", BOB.id)
    api = register(auth_app, single_task(offered(tq.Offer.to_group("nurses"))))
    work_item = only_item(api, api.internal_initialize_root_workflow())
    auth_app.queues.claim(work_item, user=ANN)
    assert auth_app.queues.available_for(ANN) == auth_app.queues.available_for(BOB) == []
    assert ids(auth_app.queues.claimed_by(ANN)) == [work_item]
    assert ids(auth_app.queues.for_group("nurses")) == [work_item]
    assert auth_app.queues.for_group("nurses", include_claimed=False) == []
    with pytest.raises(tq.WorkItemAlreadyClaimedError, match="already claimed by 'ann'"):
        auth_app.queues.claim(work_item, user=BOB)
    with pytest.raises(tq.WorkItemAlreadyClaimedError, match="'bob' cannot release"):
        auth_app.queues.release(work_item, user=BOB)
    assert auth_app.queues.claim(work_item, user=ANN).claimed_by == ANN.id  # already hers
    released = auth_app.queues.release(work_item, user=ANN)
    assert (released.claimed_by, released.claimed_at) == (None, None)
    assert ids(auth_app.queues.available_for(BOB)) == [work_item]
    auth_app.queues.claim(work_item, user=BOB)
    auth_app.queues.release(work_item)  # server code releases anyone's
    assert ids(auth_app.queues.available_for(ANN)) == [work_item]


def test_a_claim_needs_a_user_the_work_item_is_offered_to(auth_app):
    staff(auth_app)
    api = register(auth_app, single_task(offered(tq.Offer.to_scope(TRIAGE))))
    plain = register(auth_app, single_task(Builder.work_item("item"), name="plain"))
    work_item = only_item(api, api.internal_initialize_root_workflow())
    not_offered = only_item(plain, plain.internal_initialize_root_workflow())
    before = dump(auth_app)
    with pytest.raises(tq.WorkItemNotOfferedError, match="holders of scope 'er:triage:write'"):
        auth_app.queues.claim(work_item, user=BOB)
    with pytest.raises(tq.WorkItemNotFoundError, match="no offered work item"):
        auth_app.queues.claim(not_offered, user=ANN)
    with pytest.raises(tq.AuthenticationRequiredError):
        auth_app.queues.claim(work_item, user=None)
    with pytest.raises(TypeError):
        auth_app.queues.claim(7, user=ANN)  # type: ignore[arg-type]
    assert dump(auth_app) == before


def test_starting_claims_and_only_the_claimant_may_act_on_a_claimed_work_item(make_app):
    app = make_app()
    staff(app)
    app.auth.add_member("nurses", BOB.id)
    allowed = tq.require_scope(TRIAGE)
    api = register(
        app,
        single_task(
            offered(tq.Offer.to_scope(TRIAGE), start=allowed, complete=allowed, reset=allowed)
        ),
    )
    work_item = only_item(api, api.internal_initialize_root_workflow())
    api.start_work_item(work_item, user=ANN)
    entry = app.queues.get(work_item)
    assert entry is not None and (entry.state, entry.claimed_by) == ("started", ANN.id)
    before = dump(app)
    with pytest.raises(tq.WorkItemAlreadyClaimedError, match="only they may complete it"):
        api.complete_work_item(work_item, user=BOB)
    assert dump(app) == before
    api.reset_work_item(work_item, user=ANN)  # back to the queue, claim released
    entry = app.queues.get(work_item)
    assert entry is not None and (entry.state, entry.claimed_by) == ("initialized", None)
    app.queues.claim(work_item, user=BOB)
    with pytest.raises(tq.WorkItemAlreadyClaimedError, match="claimed by 'bob'"):
        api.start_work_item(work_item, user=ANN)
    api.internal_start_work_item(work_item)  # server code is not bound by claims
    api.complete_work_item(work_item, user=BOB)
    assert app.queues.claimed_by(BOB) == []


def test_a_start_by_a_user_the_work_item_is_not_offered_to_is_refused(make_app):
    app = make_app()
    staff(app)
    api = register(app, single_task(offered(tq.Offer.to_user(ANN.id), start=lambda ctx: True)))
    work_item = only_item(api, api.internal_initialize_root_workflow())
    before = dump(app)
    with pytest.raises(tq.WorkItemNotOfferedError, match="offered to user 'ann'"):
        api.start_work_item(work_item, user=BOB)
    assert dump(app) == before


# --- withdrawal ------------------------------------------------------------------------------


def two_items(ctx: tq.TaskActivityContext) -> None:
    ctx.work_item.initialize()
    ctx.work_item.initialize()


def complete_on_first(ctx: tq.TaskPolicyContext) -> tq.PolicyDecision:
    return "complete" if ctx.task.get_stats().completed else "continue"


def test_canceling_a_work_item_withdraws_its_offer(auth_app):
    staff(auth_app)
    api = register(auth_app, single_task(offered(tq.Offer.to_scope(TRIAGE))))
    work_item = only_item(api, api.internal_initialize_root_workflow())
    auth_app.queues.claim(work_item, user=ANN)
    api.internal_cancel_work_item(work_item)
    assert auth_app.queues.available_for(ANN) == auth_app.queues.claimed_by(ANN) == []
    entry = auth_app.queues.get(work_item)
    assert entry is not None and entry.state == "canceled"
    with pytest.raises(tq.WorkItemNotOfferedError, match="completed, failed or canceled"):
        auth_app.queues.claim(work_item, user=ANN)


def test_a_task_torn_down_by_its_policy_withdraws_its_other_offers(auth_app):
    staff(auth_app)
    item = offered(tq.Offer.to_scope(TRIAGE))
    workflow = (
        Builder.workflow("wf")
        .start_condition("start")
        .end_condition("end")
        .task(
            "work",
            Builder.task(item).with_activities(on_enabled=two_items).with_policy(complete_on_first),
        )
        .connect_condition("start", lambda to: to.task("work"))
        .connect_task("work", lambda to: to.condition("end"))
    )
    api = register(auth_app, workflow)
    workflow_id = api.internal_initialize_root_workflow()
    first, second = (i.id for i in api.list_work_items(workflow_id))
    assert len(auth_app.queues.available_for(ANN)) == 2
    api.internal_start_work_item(first)
    api.internal_complete_work_item(first)
    assert api.get_work_item_state(second) == "canceled"
    assert auth_app.queues.available_for(ANN) == []


def test_a_cancellation_region_and_a_canceled_workflow_withdraw_offers(auth_app):
    staff(auth_app)
    item = offered(tq.Offer.to_scope(TRIAGE))
    workflow = (
        Builder.workflow("wf")
        .start_condition("start")
        .end_condition("end")
        .task(
            "fast",
            Builder.task(Builder.work_item("fast")).with_activities(on_enabled=one_work_item),
        )
        .task("slow", Builder.task(item).with_activities(on_enabled=one_work_item))
        .connect_condition("start", lambda to: to.task("fast").task("slow"))
        .connect_task("fast", lambda to: to.condition("end"))
        .connect_task("slow", lambda to: to.condition("end"))
        .with_cancellation_region("fast", lambda region: region.task("slow"))
    )
    api = register(auth_app, workflow)
    workflow_id = api.internal_initialize_root_workflow()
    (fast,) = api.list_work_items(workflow_id, task_name="fast")
    assert len(auth_app.queues.available_for(ANN)) == 1
    api.internal_start_work_item(fast.id)
    api.internal_complete_work_item(fast.id)
    assert auth_app.queues.available_for(ANN) == []
    other = api.internal_initialize_root_workflow()
    assert len(auth_app.queues.available_for(ANN)) == 1
    api.internal_cancel_root_workflow(other)
    assert auth_app.queues.available_for(ANN) == []


def test_a_loop_offers_each_generation_s_work_item_and_withdraws_the_finished_ones(auth_app):
    staff(auth_app)
    rounds: list[str] = []

    def again(ctx: tq.RouterContext) -> tq.Route:
        rounds.append("round")
        return ctx.route.to_task("review" if len(rounds) < 3 else "done")

    review = offered(
        lambda ctx: tq.Offer.to_scope(TRIAGE, title=f"round {ctx.parent.task.generation}"),
        start=tq.require_scope(TRIAGE),
    )
    workflow = (
        Builder.workflow("wf")
        .start_condition("start")
        .end_condition("end")
        .task(
            "review",
            Builder.task(review)
            .with_split_type("xor")
            .with_join_type("xor")
            .with_activities(on_enabled=one_work_item),
        )
        .task(
            "done",
            Builder.task(Builder.work_item("done")).with_activities(on_enabled=one_work_item),
        )
        .connect_condition("start", lambda to: to.task("review"))
        .connect_task("review", lambda to: to.task("review").task("done").route(again))
        .connect_task("done", lambda to: to.condition("end"))
    )
    api = register(auth_app, workflow)
    api.internal_initialize_root_workflow()
    for generation in (1, 2, 3):
        (entry,) = auth_app.queues.available_for(ANN)
        assert entry.title == f"round {generation}"
        api.start_work_item(entry.work_item_id, user=ANN)
        assert auth_app.queues.available_for(ANN) == []
        api.internal_complete_work_item(entry.work_item_id)
    assert auth_app.queues.available_for(ANN) == auth_app.queues.claimed_by(ANN) == []


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"limit": 0}, ValueError),
        ({"limit": 1001}, ValueError),
        ({"limit": "10"}, TypeError),
        ({"min_priority": 1.5}, TypeError),
        ({"due_before": "soon"}, TypeError),
        ({"due_before": datetime(2026, 1, 1)}, ValueError),
        ({"due_before": datetime.max.replace(tzinfo=timezone(timedelta(hours=-1)))}, ValueError),
        ({"workflow_name": 3}, TypeError),
        ({"after": "x" * 65}, ValueError),
    ],
)
def test_bad_queue_arguments_are_refused_before_any_sql(auth_app, arguments: dict[str, Any], error):
    with pytest.raises(error):
        auth_app.queues.available_for(ANN, **arguments)


def test_a_queue_belongs_to_somebody(auth_app):
    with pytest.raises(tq.AuthenticationRequiredError, match="pass user="):
        auth_app.queues.available_for(None)


def test_a_user_with_more_audiences_than_one_query_holds_still_gets_one_ordered_page(auth_app):
    staff(auth_app)
    for i in range(101):
        auth_app.auth.create_group(f"team-{i}")
        auth_app.auth.add_member(f"team-{i}", ANN.id)
    planned = [
        tq.Offer.to_group("team-0", priority=1),
        tq.Offer.to_group("team-100", priority=3),
        tq.Offer.to_scope(TRIAGE, priority=2),
        tq.Offer.to_group("team-57", priority=3),
    ]
    api = register(auth_app, single_task(offered(lambda ctx: planned.pop(0))))
    made = [only_item(api, api.internal_initialize_root_workflow()) for _ in range(4)]
    by_priority = [*sorted([made[1], made[3]]), made[2], made[0]]
    assert ids(auth_app.queues.available_for(ANN)) == by_priority
    assert ids(auth_app.queues.available_for(ANN, limit=2)) == by_priority[:2]
