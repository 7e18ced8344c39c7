"""Eight clients, each with its own app on one database, race to claim (and to start) the
same work item: exactly one wins, the others are told it is claimed, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter

import tasquencer as tq
from tests.auth.support import SCOPES, TRIAGE, offered, only_item, register, single_task, staff

CLIENTS = 8


def race(database_url: str, attempt: str) -> tuple[Counter[str], str, tq.App]:
    """Open the apps, let every client make its attempt at once; count the outcomes."""
    apps = [tq.App(database_url, auth=tq.Auth(scopes=SCOPES)) for _ in range(CLIENTS)]
    workflow = single_task(offered(tq.Offer.to_scope(TRIAGE), start=tq.require_scope(TRIAGE)))
    apis = [register(app, workflow) for app in apps]
    staff(apps[0])
    for i in range(CLIENTS):
        apps[0].auth.add_member("nurses", f"nurse-{i}")
    work_item = only_item(apis[0], apis[0].internal_initialize_root_workflow())
    ready = threading.Barrier(CLIENTS)
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def client(i: int) -> None:
        user = tq.User(f"nurse-{i}")
        ready.wait()
        try:
            if attempt == "claim":
                apps[i].queues.claim(work_item, user=user)
            else:
                apis[i].start_work_item(work_item, user=user)
            outcome = "won"
        except tq.TasquencerError as error:
            outcome = type(error).__name__
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for app in apps[1:]:
        app.close()
    return outcomes, work_item, apps[0]


def test_eight_clients_claiming_one_work_item_exactly_one_wins(database_url):
    outcomes, work_item, app = race(database_url, "claim")
    try:
        assert outcomes == {"won": 1, "WorkItemAlreadyClaimedError": CLIENTS - 1}
        entry = app.queues.get(work_item)
        assert entry is not None and entry.claimed_by is not None
        assert [i.work_item_id for i in app.queues.claimed_by(tq.User(entry.claimed_by))] == [
            work_item
        ]
    finally:
        app.close()


def test_eight_clients_starting_one_offered_work_item_exactly_one_claims_and_starts_it(
    database_url,
):
    outcomes, work_item, app = race(database_url, "start")
    try:
        assert outcomes == {"won": 1, "WorkItemAlreadyClaimedError": CLIENTS - 1}
        entry = app.queues.get(work_item)
        assert entry is not None and entry.state == "started" and entry.claimed_by is not None
    finally:
        app.close()
