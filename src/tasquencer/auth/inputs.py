"""Checks of what `app.auth`'s methods are given, made before any SQL runs."""

from __future__ import annotations

import json

from tasquencer import arguments
from tasquencer.errors import SerializationError, describe
from tasquencer.store.tables import MAX_NAME_LENGTH


def name(value: object, argument: str) -> str:
    text = arguments.text(value, argument, maximum=MAX_NAME_LENGTH)
    if not text.strip():
        raise ValueError(f"{argument} must not be empty")
    return text


def description(value: object) -> None:
    arguments.text(value, "description", maximum=10_000)


def flag(value: object, argument: str) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{argument} must be a bool, got {describe(value)}")


def aware_time(value: object, argument: str) -> None:
    if value is not None:
        arguments.moment(value, argument)


def json_value(value: object, what: str) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        raise SerializationError(f"{what} is stored as JSON; {describe(value)} is not") from None


def one_holder(user_id: str | None, group: str | None) -> None:
    if (user_id is None) == (group is None):
        raise TypeError("give user_id= or group=, exactly one")
    if user_id is not None:
        name(user_id, "user_id")
    if group is not None:
        name(group, "group name")
