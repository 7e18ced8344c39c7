"""Names of workflows, tasks, conditions, work items and versions: stored by the engine, so
they must fit its columns."""

from __future__ import annotations

from tasquencer import arguments
from tasquencer.errors import describe

MAX_NAME = 200  # the engine's name columns


def element_name(name: object, what: str) -> str:
    """`name` if it can name a `what`: a non-empty string of at most 200 characters the
    database can store, without '/' (paths are joined with it)."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"a {what} name must be a non-empty string, got {describe(name)}")
    if "/" in name:
        raise ValueError(f"{what} name {describe(name)} must not contain '/'")
    problem = arguments.text_problem(name, MAX_NAME)
    if problem:
        raise ValueError(f"{what} name {describe(name)} {problem}")
    return name
