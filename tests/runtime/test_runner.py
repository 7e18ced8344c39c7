"""Which errors make the runner run a call again."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

import tasquencer as tq
from tasquencer.runtime import runner
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


@pytest.mark.parametrize("read_only", [False, True], ids=["write", "read"])
def test_a_call_that_keeps_losing_conflicts_says_it_may_be_retried(app, monkeypatch, read_only):
    monkeypatch.setattr(runner.time, "sleep", lambda seconds: None)
    conflicts: list[DriverError] = []

    def always_loses(tx: Any) -> None:
        conflicts.append(DriverError("40001"))
        raise conflicts[-1]

    with pytest.raises(tq.ConflictRetriesExhaustedError) as raised:
        app.runtime.runner.run(always_loses, read_only=read_only)
    assert isinstance(raised.value, tq.TasquencerError)
    assert len(conflicts) == runner.MAX_ATTEMPTS == raised.value.attempts
    assert raised.value.__cause__ is conflicts[-1]
    assert f"each of its {runner.MAX_ATTEMPTS} attempts" in str(raised.value)
    assert "may be retried" in str(raised.value)
    assert app.runtime.runner.retries() == {"conflict": runner.MAX_ATTEMPTS - 1}
    # An outer call does not run again because an inner one gave up.
    assert not is_conflict(raised.value)


@pytest.mark.parametrize("read_only", [False, True], ids=["write", "read"])
def test_a_call_that_loses_a_conflict_once_succeeds_and_is_counted(app, monkeypatch, read_only):
    monkeypatch.setattr(runner.time, "sleep", lambda seconds: None)
    attempts: list[int] = []

    def loses_once(tx: Any) -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise DriverError("40P01")  # deadlock detected
        return "done"

    assert app.runtime.runner.run(loses_once, read_only=read_only) == "done"
    assert len(attempts) == 2
    assert app.runtime.runner.retries() == {"conflict": 1}


@pytest.mark.parametrize("read_only", [False, True], ids=["write", "read"])
def test_other_errors_are_raised_at_once_and_not_counted(app, read_only):
    def fails(tx: Any) -> None:
        raise ValueError("bad input")

    with pytest.raises(ValueError):
        app.runtime.runner.run(fails, read_only=read_only)
    assert app.runtime.runner.retries() == {}
