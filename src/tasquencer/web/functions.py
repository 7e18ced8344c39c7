"""Routes for the registered mutations and queries that are not internal:
`POST /api/functions/{name}` with the function's keyword arguments as a JSON object.

The body is documented and validated by a model made from the function's signature (its
parameters after `ctx`, with their annotations and defaults), so a wrong or missing argument is
a 422 before the function runs. Actions are not routed: they do I/O and belong to workers.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pydantic
from fastapi import APIRouter, Body, Request

import tasquencer as tq
from tasquencer.web import problems, users

RESERVED = frozenset({"ctx", "internal", "user"})  # what a caller over HTTP may not set


def function_routes(router: APIRouter, app: tq.App) -> None:
    for definition in app.registry.definitions():
        if definition.internal or definition.kind == "action":
            continue
        if definition.name.startswith("tasquencer.api:"):
            continue  # the API's methods have routes of their own
        run = app.run_mutation if definition.kind == "mutation" else app.run_query
        model = arguments_model(definition.name, definition.fn)
        router.add_api_route(
            f"/functions/{quote(definition.name)}",
            _endpoint(app, run, definition.name, model),
            methods=["POST"],
            tags=["functions"],
            summary=f"run the {definition.kind} {definition.name}",
            description=inspect.getdoc(definition.fn) or None,
            responses=problems.documented(401, 403),
        )


def arguments_model(name: str, fn: Callable[..., object]) -> type[pydantic.BaseModel]:
    """A model of `fn`'s arguments after `ctx`: extra fields are refused unless it takes
    `**kwargs`; a parameter without an annotation takes any JSON value."""
    try:
        hints = typing.get_type_hints(fn)
    except (NameError, TypeError):  # annotations that cannot be resolved here
        hints = {}
    fields: dict[str, Any] = {}
    extra: typing.Literal["allow", "forbid"] = "forbid"
    for parameter in list(inspect.signature(fn).parameters.values())[1:]:
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            extra = "allow"
            continue
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.POSITIONAL_ONLY):
            continue
        annotation = hints.get(parameter.name, Any)
        default = ... if parameter.default is inspect.Parameter.empty else parameter.default
        fields[parameter.name] = (annotation, default)
    title = "".join(part.capitalize() for part in name.replace(".", "_").split("_")) + "Arguments"
    return pydantic.create_model(
        title, __config__=pydantic.ConfigDict(extra=extra, title=title), **fields
    )


def _endpoint(
    app: tq.App, run: Callable[..., object], name: str, model: type[pydantic.BaseModel]
) -> Callable[..., dict[str, object]]:
    required = any(field.is_required() for field in model.model_fields.values())

    def call(
        request: Request,
        arguments: Any = Body(default=... if required else None),  # noqa: B008
    ) -> dict[str, object]:
        if arguments is None:  # no body, and none needed: the function's defaults
            arguments = model()
        given = {field: getattr(arguments, field) for field in type(arguments).model_fields}
        given.update(arguments.model_extra or {})
        reserved = RESERVED & set(given)
        if reserved:
            raise ValueError(f"{name}: the arguments {sorted(reserved)} cannot be given over HTTP")
        return {"result": run(name, user=users.source(app, request), **given)}

    call.__annotations__["arguments"] = model
    return call
