"""Errors as HTTP responses: a status that says what went wrong and a JSON problem body
(`application/problem+json`: type, title, status, detail), never a 500 for bad input. The
debugger's pages answer with the same status and an HTML page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pydantic
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException

import tasquencer as tq

# The first matching class decides (most specific first).
STATUSES: tuple[tuple[type[BaseException], int], ...] = (
    (tq.ConflictRetriesExhaustedError, 503),  # busy: nothing was committed, it may be retried
    (tq.WouldWaitError, 503),  # the same: nothing was done
    (tq.EntityNotFoundError, 404),
    (tq.AuditError, 404),  # no record of the workflow then: not created yet, or not recorded
    (tq.UnknownVersionError, 404),
    (tq.FunctionNotRegisteredError, 404),
    (tq.NotInternalMutationError, 403),
    (tq.AuthenticationRequiredError, 401),
    (tq.AuthorizationError, 403),
    (tq.WorkItemNotOfferedError, 403),
    (tq.WorkItemClaimError, 409),  # claimed by somebody else
    (tq.AlreadyExistsError, 409),
    (tq.PayloadValidationError, 422),
    (tq.ElementNotFoundInPathError, 422),
    (tq.SerializationError, 422),
    (tq.InvalidStateTransitionError, 409),
    (tq.StructuralIntegrityError, 409),
    (tq.WorkflowDeprecatedError, 409),
    (tq.TaskInvalidRouteError, 409),
    (tq.WorkflowMigrationNotFoundError, 409),
    (ValueError, 422),
    (TypeError, 422),
)


PROBLEM_SCHEMA: dict[str, object] = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
    },
    "required": ["type", "title", "status", "detail"],
}


def documented(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI `responses` for problem documents with these statuses."""
    reasons = {
        400: "Malformed request (a body that cannot be read)",
        401: "Not authenticated",
        403: "Not allowed",
        404: "Not found",
        409: "Not possible in the current state",
        422: "Invalid request or payload",
        503: "Too many concurrent calls on the same data: nothing was done; try again",
    }
    return {
        status: {
            "description": reasons[status],
            "content": {"application/problem+json": {"schema": PROBLEM_SCHEMA}},
        }
        for status in statuses
    }


def problem(
    request: Request, status: int, title: str, detail: str, kind: str
) -> JSONResponse | HTMLResponse:
    templates: Jinja2Templates | None = getattr(request.state, "html_errors", None)
    if templates is not None:
        context = {"status": status, "title": title, "detail": detail}
        return templates.TemplateResponse(request, "error.html", context, status_code=status)
    return JSONResponse(
        {
            "type": f"urn:tasquencer:problem:{kind}",
            "title": title,
            "status": status,
            "detail": detail,
        },
        status_code=status,
        media_type="application/problem+json",
    )


def status_of(error: BaseException) -> int:
    for kind, status in STATUSES:
        if isinstance(error, kind):
            return status
    return 500


async def engine_error(request: Request, error: Exception) -> JSONResponse | HTMLResponse:
    status = status_of(error)
    title = type(error).__name__ if status != 500 else "Internal Server Error"
    detail = str(error) if status != 500 else "the server could not complete the request"
    response = problem(request, status, title, detail, type(error).__name__)
    if status == 503:
        response.headers["Retry-After"] = "1"
    return response


async def invalid_request(request: Request, error: Exception) -> JSONResponse | HTMLResponse:
    assert isinstance(error, RequestValidationError | pydantic.ValidationError)
    return problem(request, 422, "Invalid request", _errors(error.errors()), type(error).__name__)


def _errors(errors: Sequence[Any]) -> str:
    """Where and what, for the first few errors: `body.severity: Input should be 'low' or ...`."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
        for e in errors[:5]
    )


async def http_error(request: Request, error: Exception) -> JSONResponse | HTMLResponse:
    assert isinstance(error, HTTPException)
    return problem(request, error.status_code, "HTTP error", str(error.detail), "HTTPException")
