"""Checks of the values the public API is given, made before anything runs or reaches SQL.

A wrong type raises `TypeError`, a value out of range `ValueError`; both name the argument and
show the value given, shortened.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from tasquencer.errors import describe


def string(value: object, argument: str) -> str:
    """`value` if it is a str (of any content: an id that cannot exist is simply not found)."""
    if not isinstance(value, str):
        raise TypeError(f"{argument} must be a str, got {type(value).__name__} {describe(value)}")
    return value


def text(value: object, argument: str, *, maximum: int | None = None) -> str:
    """A string the database can store: no NUL character, no lone surrogate."""
    string(value, argument)
    assert isinstance(value, str)
    problem = text_problem(value, maximum)
    if problem:
        raise ValueError(f"{argument} {problem}: {describe(value)}")
    return value


def optional_text(value: object, argument: str, *, maximum: int | None = None) -> str | None:
    return None if value is None else text(value, argument, maximum=maximum)


def text_problem(value: str, maximum: int | None = None) -> str:
    """Why a string cannot be stored ("" when it can)."""
    if maximum is not None and len(value) > maximum:
        return f"is longer than {maximum} characters"
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid Unicode text)"
    return ""


def could_be_an_id(value: str) -> bool:
    """Whether a string could be an id the engine made: ids are short ASCII strings, so
    anything else names no row (and is not sent to the database)."""
    return len(value) <= 64 and value.isascii() and "\x00" not in value


def integer(value: object, argument: str, *, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{argument} must be an int, got {type(value).__name__} {describe(value)}")
    if not minimum <= value <= maximum:
        raise ValueError(f"{argument} must be between {minimum} and {maximum}, got {value}")
    return value


def number(value: object, argument: str, *, minimum: float, maximum: float) -> float:
    """A finite int or float (not a bool) within [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(
            f"{argument} must be a number, got {type(value).__name__} {describe(value)}"
        )
    if not (_finite(value) and minimum <= value <= maximum):
        raise ValueError(
            f"{argument} must be between {minimum:g} and {maximum:g}, got {describe(value)}"
        )
    return float(value)


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def seconds(value: object, argument: str, *, maximum: float) -> float:
    """A duration given in seconds or as a `timedelta`, between 0 and `maximum` seconds."""
    given = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(given, bool) or not isinstance(given, int | float):
        raise TypeError(
            f"{argument} must be a number of seconds or a timedelta, got "
            f"{type(value).__name__} {describe(value)}"
        )
    if not (_finite(given) and 0 <= given <= maximum):
        raise ValueError(
            f"{argument} must be between 0 and {maximum:.0f} seconds, got {describe(value)}"
        )
    return float(given)


def moment(value: object, argument: str, *, naive_is_utc: bool = False) -> datetime:
    """A timezone-aware datetime that exists in UTC (years 1 to 9999 there), as given.

    With `naive_is_utc`, a naive datetime is taken as UTC instead of refused.
    """
    if not isinstance(value, datetime):
        raise TypeError(
            f"{argument} must be a datetime, got {type(value).__name__} {describe(value)}"
        )
    if value.tzinfo is None:
        if not naive_is_utc:
            raise ValueError(f"{argument} must be a timezone-aware datetime, got {value!r}")
        value = value.replace(tzinfo=UTC)
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{argument}: {value!r} is outside the years 1 to 9999 in UTC") from None
    return value


def one_of(value: object, argument: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{argument} must be one of {', '.join(choices)}; got {describe(value)}")
    return value
