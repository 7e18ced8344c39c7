"""The routes of the workflow actions, on a short path for the requests that make up the load.

FastAPI's request handling (its dependency solver, the body read through its content-type and
form machinery, the response model) cost a completion over HTTP more CPU than the engine's
work itself. An action's request is simple: path parameters, perhaps one query parameter, a
JSON body validated by the action's schema. So a well-formed one (`content-type:
application/json`, a body the schema accepts, every parameter there) is validated and run here
directly; anything else goes to FastAPI's own handler of the same route, which answers as it
always does (the same 422s and 400s). The route, its OpenAPI operation and every middleware
are FastAPI's either way.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, is_dataclass
from typing import Any

import pydantic
from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

import tasquencer as tq

Handler = Callable[..., object]


@dataclass(frozen=True, slots=True)
class ActionEndpoint:
    """What FastAPI routes (its signature documents the operation) and what the short path
    needs: the parameters, the payload's schema, and the status of an answer with a body."""

    handler: Handler
    signature: inspect.Signature
    path_params: tuple[str, ...]
    query_params: tuple[str, ...]
    schema: Any  # the action's payload type; None: it takes no payload
    status_code: int
    adapter: pydantic.TypeAdapter[Any] | None  # validates the payload (None: anything goes)
    on_loop: tq.App | None  # the app whose calls may run on the event loop (SQLite)

    @property
    def __signature__(self) -> inspect.Signature:
        return self.signature

    def __call__(self, **kwargs: Any) -> object:
        return self.handler(**kwargs)

    def payload_of(self, body: bytes) -> tuple[bool, object]:
        """(True, the validated payload), or (False, None) when FastAPI should answer."""
        if self.schema is None:
            return True, None
        if not body:
            return self.schema is Any, None  # no body: fine only where the payload is optional
        try:
            data = json.loads(body)
        except ValueError:
            return False, None
        if self.adapter is None:
            return True, data
        try:
            return True, self.adapter.validate_python(data)
        except pydantic.ValidationError:
            return False, None

    async def run(self, arguments: dict[str, Any]) -> object:
        """The handler's answer: on the event loop if its call need not wait for another
        writer, else from a worker thread (where it waits). A handler makes one engine call
        (after reads at most), so one that raised `WouldWaitError` has changed nothing."""
        if self.on_loop is not None:
            try:
                with self.on_loop.without_waiting():
                    return self.handler(**arguments)
            except tq.WouldWaitError:
                pass  # it did nothing: made again below, where waiting is fine
        return await run_in_threadpool(self.handler, **arguments)


class ActionRoute(APIRoute):
    """A FastAPI route whose well-formed requests take the short path (see the module)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        fastapis = super().get_route_handler()
        endpoint = self.endpoint
        assert isinstance(endpoint, ActionEndpoint)

        async def handle(request: Request) -> Response:
            json_body = request.headers.get("content-type") == "application/json"
            if endpoint.schema is not None and not json_body:
                return await fastapis(request)
            arguments: dict[str, Any] = {"request": request}
            for name in endpoint.path_params:
                arguments[name] = request.path_params[name]
            for name in endpoint.query_params:
                value = request.query_params.get(name)
                if value is None:
                    return await fastapis(request)
                arguments[name] = value
            ok, payload = endpoint.payload_of(await request.body())
            if not ok:
                return await fastapis(request)
            if endpoint.schema is not None:
                arguments["payload"] = payload
            result = await endpoint.run(arguments)
            if isinstance(result, Response):
                return result
            return JSONResponse(_json(result), status_code=endpoint.status_code)

        return handle


def _json(answer: object) -> object:
    """A handler's answer, a record or a list of records, as JSON values."""
    if isinstance(answer, list):
        return [_json(one) for one in answer]
    assert is_dataclass(answer) and not isinstance(answer, type)
    return asdict(answer)
