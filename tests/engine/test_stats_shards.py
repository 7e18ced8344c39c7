"""The stats shard of a child: FNV-1a over the UTF-16 code units of its id."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tasquencer.engine.transitions import fnv1a_32


def reference(text: str) -> int:
    """FNV-1a, one UTF-16 code unit (a surrogate half for characters beyond the BMP) a step."""
    h = 0x811C9DC5
    encoded = text.encode("utf-16-le")
    for i in range(0, len(encoded), 2):
        h ^= int.from_bytes(encoded[i : i + 2], "little")
        h = (h * 0x01000193) % 2**32
    return h


def test_known_values() -> None:
    assert fnv1a_32("") == 0x811C9DC5
    assert fnv1a_32("a") == 0xE40C292C  # a code unit below 256 hashes like the byte


@given(st.text())
def test_matches_the_definition(text: str) -> None:
    assert fnv1a_32.__wrapped__(text) == reference(text)
