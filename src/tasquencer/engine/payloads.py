"""Validation of action payloads against their schemas (pydantic)."""

from __future__ import annotations

from typing import Any

import pydantic

from tasquencer.builder.actions import Action, ActionCallback
from tasquencer.contexts import AccessPolicy
from tasquencer.errors import PayloadValidationError, describe

_SHOWN_ERRORS = 5  # the message names the first few; `errors` holds them all


class ActionDef:
    """A compiled action: its schema's validator, its callback (None = the transition alone)
    and its access policy."""

    __slots__ = ("_adapter", "callback", "label", "name", "policy", "schema")

    def __init__(self, label: str, name: str, action: Action) -> None:
        self.label = label
        self.name = name
        self.schema = action.schema
        self.callback: ActionCallback | None = action.callback
        self.policy: AccessPolicy | None = action.policy
        self._adapter: pydantic.TypeAdapter[Any] | None = (
            None if action.schema is None or action.schema is Any else _adapter(action.schema)
        )

    @property
    def is_default(self) -> bool:
        """The default action, which only internal callers may use (no callback, no policy)."""
        return self.callback is None and self.policy is None

    def parse(self, payload: object) -> object:
        """The validated payload; raises `PayloadValidationError` naming the bad fields."""
        if self.schema is Any:
            return payload
        if self.schema is None:
            if payload is not None:
                raise PayloadValidationError(
                    f"the {self.name} action of {self.label} takes no payload, "
                    f"got {type(payload).__name__} {describe(payload)}"
                )
            return None
        assert self._adapter is not None
        try:
            return self._adapter.validate_python(payload)
        except RecursionError:
            raise PayloadValidationError(
                f"invalid payload for the {self.name} action of {self.label}: it is nested "
                "too deeply to be validated"
            ) from None
        except pydantic.ValidationError as error:
            details = error.errors(include_url=False)
            raise PayloadValidationError(
                f"invalid payload for the {self.name} action of {self.label}: " + _summary(details),
                errors=[dict(d) for d in details],
            ) from None


def _adapter(schema: Any) -> pydantic.TypeAdapter[Any]:
    try:
        return pydantic.TypeAdapter(schema)
    except pydantic.PydanticSchemaGenerationError as error:
        raise TypeError(f"cannot use {schema!r} as a payload schema: {error}") from None


def _summary(details: list[Any]) -> str:
    shown = "; ".join(_describe(d) for d in details[:_SHOWN_ERRORS])
    more = len(details) - _SHOWN_ERRORS
    return shown + (f"; and {more} more" if more > 0 else "")


def _describe(detail: Any) -> str:
    location = ".".join(str(part) for part in detail.get("loc", ())) or "payload"
    shown = describe(detail.get("input"))
    return f"field {describe(location)}: {detail.get('msg', 'invalid')} (got {shown})"
