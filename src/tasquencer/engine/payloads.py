"""Validation of action payloads against their schemas (pydantic)."""

from __future__ import annotations

from typing import Any

import pydantic

from tasquencer.builder.actions import Action, ActionCallback
from tasquencer.errors import PayloadValidationError


class ActionDef:
    """A compiled action: its schema's validator and its callback (None = default action)."""

    __slots__ = ("_adapter", "callback", "label", "name", "schema")

    def __init__(self, label: str, name: str, action: Action) -> None:
        self.label = label
        self.name = name
        self.schema = action.schema
        self.callback: ActionCallback | None = action.callback
        self._adapter: pydantic.TypeAdapter[Any] | None = (
            None if action.schema is None or action.schema is Any else _adapter(action.schema)
        )

    @property
    def is_default(self) -> bool:
        return self.callback is None

    def parse(self, payload: object) -> object:
        """The validated payload; raises `PayloadValidationError` naming the bad fields."""
        if self.schema is Any:
            return payload
        if self.schema is None:
            if payload is not None:
                raise PayloadValidationError(
                    f"the {self.name} action of {self.label} takes no payload, "
                    f"got {type(payload).__name__}"
                )
            return None
        assert self._adapter is not None
        try:
            return self._adapter.validate_python(payload)
        except pydantic.ValidationError as error:
            details = error.errors(include_url=False)
            raise PayloadValidationError(
                f"invalid payload for the {self.name} action of {self.label}: "
                + "; ".join(_describe(d) for d in details),
                errors=[dict(d) for d in details],
            ) from None


def _adapter(schema: Any) -> pydantic.TypeAdapter[Any]:
    try:
        return pydantic.TypeAdapter(schema)
    except pydantic.PydanticSchemaGenerationError as error:
        raise TypeError(f"cannot use {schema!r} as a payload schema: {error}") from None


def _describe(detail: Any) -> str:
    location = ".".join(str(part) for part in detail.get("loc", ())) or "payload"
    return f"field {location!r}: {detail.get('msg', 'invalid')} (got {detail.get('input')!r})"
