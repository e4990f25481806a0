"""The one cursor codec: what it gives out comes back as the same position; anything else is refused."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from trellis.core.runtime import cursors
from trellis.core.runtime.cursors import InvalidCursor


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_a_cursor_gives_back_the_position_it_was_made_from() -> None:
    at = dt.datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=dt.UTC)
    assert cursors.decode(cursors.encode("0193-abc"), str) == ("0193-abc",)
    assert cursors.decode(cursors.encode(42), int) == (42,)
    assert cursors.decode(cursors.encode(at, "n-1"), dt.datetime, str) == (at, "n-1")
    assert "=" not in cursors.encode("x") and "+" not in cursors.encode("~~~~~~")  # safe in a URL


@pytest.mark.parametrize(
    "cursor",
    [
        "zzz",  # text compared as an id until now: every item was "before" it
        "",
        "%%%",
        _b64("not json"),
        _b64('{"c1": 1}'),
        _b64('["c0", "0193-abc"]'),  # another format
        _b64('["c1"]'),  # no position
        _b64('["c1", "a", "b"]'),  # a position of another list
        _b64('["c1", 5]'),  # a number where an id is
        _b64('["c1", ""]'),
        cursors.encode("0193-abc") + "=",  # the same position spelt otherwise
        _b64('[ "c1", "0193-abc" ]'),
    ],
)
def test_text_this_api_never_gave_out_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor) as refused:
        cursors.decode(cursor, str)
    assert refused.value.code == "invalid_cursor"


@pytest.mark.parametrize(
    "cursor",
    [
        cursors.encode("12"),  # text where a sequence number is
        _b64('["c1", -1]'),
        _b64('["c1", true]'),
        _b64('["c1", 99999999999999999999999]'),  # past any BIGINT: was a 500
        _b64('["c1", 1.5]'),
    ],
)
def test_sequence_numbers_are_whole_and_within_bigint(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        cursors.decode(cursor, int)


def test_moments_are_iso_with_an_offset() -> None:
    with pytest.raises(InvalidCursor):
        cursors.decode(cursors.encode("yesterday", "n-1"), dt.datetime, str)
    with pytest.raises(InvalidCursor):
        cursors.decode(cursors.encode("2026-03-01T12:00:00", "n-1"), dt.datetime, str)
