"""Opaque, time-sortable ids (ULIDs), strictly increasing within a process."""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_BITS = 80


class IdGenerator:
    """ULIDs: 48 bits of milliseconds then 80 random bits; a later id is always greater."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def new_id(self) -> str:
        value = (time.time_ns() // 1_000_000) << _RANDOM_BITS | int.from_bytes(os.urandom(10))
        with self._lock:
            if value <= self._last:
                value = self._last + 1
            self._last = value
        return _encode(value)


_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # every 10-bit group as two characters
_SHIFTS = range(120, -10, -10)


def _encode(value: int) -> str:
    """Crockford base32 of a 130-bit value (26 characters), ten bits at a time."""
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])
