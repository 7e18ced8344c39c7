"""Sixteen client threads on unrelated workflow trees, with tied jobs and two in-process
workers, on PostgreSQL (see trees_app.py): calls on different trees must not conflict.

Every workflow must complete, every job must end (success, or canceled with its element), no
call may fail, and fewer than 5% of the calls may have been run again after a conflict.

The one-task approvals (the shape of the report that found the problem: approvals from 16
threads) meet that. Four-task reviews do not yet, and their run is an expected failure: each
of their calls reads a workflow's tasks and conditions (several rows per heap page, so
PostgreSQL locks the whole page), and calls that enable tasks insert rows into index pages
that other calls read; see docs/decisions.md.

Quick by default (16 x 5 approvals); `--run-slow` adds the full runs (16 x 40 workflows), the
reviews' among them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import tasquencer as tq
from tests.stress import trees_app
from tests.stress.support import fresh_schema

pytestmark = pytest.mark.postgres_only

CLIENTS = 16
WORKERS = 2


@pytest.fixture
def trees(postgres_url: str) -> Iterator[trees_app.Trees]:
    with fresh_schema(postgres_url) as url:
        # A connection for every client, and the workers' (claims, lease renewals, LISTEN).
        app = tq.App(url, pool_size=CLIENTS + 4 * WORKERS, max_overflow=10)
        try:
            yield trees_app.build(app)
        finally:
            app.close()


def run(trees: trees_app.Trees, workflows: int, kinds: tuple[str, ...]) -> trees_app.Report:
    # The jobs still pending once the clients are done are due now: they end within seconds.
    report = trees_app.drive(trees, CLIENTS, workflows, WORKERS, kinds, settle=20)
    print(report.summary())
    assert not report.failures, report.failures[:3]
    assert len(report.workflows) == CLIENTS * workflows
    assert trees_app.workflow_states(trees.app) == {"completed": CLIENTS * workflows}
    assert set(report.jobs) <= {"success", "canceled"}, report.jobs
    assert report.retried_share < 0.05, report.summary()
    assert not report.warnings, report.warnings
    return report


@pytest.mark.timeout(120)
def test_one_task_workflows_of_unrelated_trees_do_not_conflict_quick(trees, backend):
    report = run(trees, 5, ("approval",))
    # The due checks ran or were canceled with their work item; the rest were canceled.
    assert sum(report.jobs.values()) == 3 * CLIENTS * 5


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_one_task_workflows_of_unrelated_trees_do_not_conflict(trees, backend):
    run(trees, 40, ("approval",))


@pytest.mark.slow
@pytest.mark.xfail(reason="page-level predicate locks still shared: see the module docstring")
@pytest.mark.timeout(900)
def test_multi_task_workflows_of_unrelated_trees_do_not_conflict(trees, backend):
    run(trees, 40, ("approval", "review"))
