"""Which errors make the runner run a call again."""

from __future__ import annotations

import sqlalchemy as sa

from tasquencer.runtime.failures import is_conflict, is_disconnect


class DriverError(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        super().__init__(f"driver error {sqlstate}")
        self.sqlstate = sqlstate


def test_lost_connections_are_recognised_through_wrapping_and_chaining():
    invalidated = sa.exc.OperationalError(
        "SELECT 1", {}, Exception("gone"), connection_invalidated=True
    )
    assert is_disconnect(invalidated)
    assert is_disconnect(DriverError("57P01"))  # admin shutdown
    assert is_disconnect(DriverError("08006"))  # connection failure
    try:
        try:
            raise DriverError("57P02")
        except DriverError:
            raise RuntimeError("while rolling back") from None
    except RuntimeError as error:
        assert not is_disconnect(error)  # `from None`: the cause was deliberately dropped
    outer = RuntimeError("wrapping")
    outer.__context__ = DriverError("08003")
    assert is_disconnect(outer)


def test_conflicts_and_other_errors_are_not_lost_connections():
    assert not is_disconnect(DriverError("40001"))
    assert is_conflict(DriverError("40001"))
    assert not is_disconnect(DriverError(None))
    assert not is_disconnect(ValueError("bad input"))


def test_a_looping_error_chain_is_walked_once():
    first, second = RuntimeError("a"), RuntimeError("b")
    first.__context__ = second
    second.__context__ = first
    assert not is_disconnect(first)
