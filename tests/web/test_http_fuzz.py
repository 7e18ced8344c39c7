"""Schemathesis over the OpenAPI document of the support desk, served by uvicorn on SQLite: no
request is a server error, every response matches what the document says, and a request that
is refused (4xx) leaves every table as it was.

Path parameters are drawn half the time from the ids that exist (so the requests reach real
cases and work items in every state), half the time as schemathesis makes them up. Each request
comes from nobody, a member of the support staff or the agent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

import tasquencer as tq
from examples import support_desk

ID_PARAMETERS = ("workflow_id", "work_item_id", "parent_workflow_id")
CALLERS = (None, "ada", "grace", "linus", "scribe")


@dataclass
class Server:
    url: str
    app: tq.App
    cases: list[str]  # root and child workflow ids
    items: dict[str, list[str]]  # work item name -> ids of such work items

    def ids_for(self, path: str, parameter: str) -> list[str]:
        """Ids that fit a route: the work items its path names, or any case."""
        if parameter != "work_item_id":
            return self.cases
        name = path.split("/{work_item_id}")[0].rsplit("/", 1)[-1]
        if name == "work-items":  # a claim or a release: any work item
            return [item for ids in self.items.values() for item in ids]
        return self.items.get(name, self.cases)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    app = tq.testing.create_app(
        Path(tmp_path_factory.mktemp("fuzz")) / "desk.db", auth=support_desk.AUTH
    )
    api = support_desk.build(app)
    for _ in range(3):
        support_desk.seed(api)

    @app.mutation(name="rename_ticket")
    def rename_ticket(ctx: tq.MutationContext, workflow_id: str, subject: str) -> str:
        ticket = ctx.db.get(support_desk.Ticket, workflow_id)
        if ticket is None:
            raise tq.WorkflowNotFoundError(f"no ticket for {tq.errors.describe(workflow_id)}")
        ticket.subject = subject[:200]
        return ticket.subject

    cases = [case.id for case in api.list_workflows()]
    cases += [child.id for case in list(cases) for child in api.list_child_workflows(case)]
    items: dict[str, list[str]] = {}
    for workflow_id in cases:
        for item in api.list_work_items(workflow_id):
            items.setdefault(item.name, []).append(item.id)
    with tq.testing.serve(tq.web.create_app(app)) as url:
        yield Server(url, app, cases, items)
    app.close()


@pytest.fixture(scope="module")
def web_schema(server: Server) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")

    @schema.hook("flatmap_path_parameters")
    def real_ids(context, parameters):
        names = [name for name in ID_PARAMETERS if name in (parameters or {})]
        if not names:
            return st.just(parameters)
        pool = server.ids_for(context.operation.path, names[0])
        known = st.sampled_from(pool).map(lambda id: {**parameters, names[0]: id})
        return st.one_of(st.just(parameters), known, known)

    return schema


def table_reader(app: tq.App) -> Callable[[], dict[str, list[tuple[object, ...]]]]:
    """A function reading every row of every table, in a stable order."""
    metadata = sa.MetaData()
    metadata.reflect(app.engine)

    def read() -> dict[str, list[tuple[object, ...]]]:
        with app.engine.connect() as connection:
            return {
                name: sorted(map(tuple, connection.execute(table.select())), key=repr)
                for name, table in sorted(metadata.tables.items())
            }

    return read


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_errors_and_refusals_change_nothing(
    mode: GenerationMode, server: Server, web_schema: schemathesis.BaseSchema
):
    tables = table_reader(server.app)
    statuses: Counter[tuple[str, int]] = Counter()

    @settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(case=web_schema.as_strategy(mode), who=st.sampled_from(CALLERS))
    def requests(case: schemathesis.Case, who: str | None) -> None:
        if who is not None:
            case.headers = {**(case.headers or {}), "X-User": who}
        before = tables()

        response = case.call()

        where = f"{case.method} {case.formatted_path}"
        statuses[case.method, response.status_code] += 1
        assert response.status_code < 500, f"{where}: {response.text}"
        if 400 <= response.status_code < 500:
            assert tables() == before, f"{where} was refused but changed data"
        case.validate_response(response)

    requests()

    # The requests reached real cases: some were carried out, some refused for their state or
    # their caller. (Which command succeeded varies from run to run; that some did does not.)
    if mode is GenerationMode.POSITIVE:
        done = statuses["POST", 204] + statuses["POST", 201] + statuses["POST", 200]
        assert done and statuses["GET", 200], statuses
        assert statuses["POST", 409] + statuses["POST", 403] and statuses["POST", 404], statuses
        assert statuses["POST", 401] + statuses["GET", 401], statuses
    else:
        assert statuses["POST", 422] and statuses["GET", 422], statuses
