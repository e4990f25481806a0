"""The one cursor of every paged list: opaque to clients, checked on the way back in.

A list's page answers the cursor of the next page; the client hands it back unchanged.
A cursor is the base64url text (no padding) of a small JSON array: a format tag, then the
position the page ended at (the last item's sort keys). Anything else (text never issued,
a position of the wrong shape, a cursor of another list) is refused with 422
``invalid_cursor`` before any query runs: comparing a made-up text to ids would answer a
page silently wrong.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import Annotated, Any

from fastapi import Query

from trellis.core.errors import InvalidInput

FORMAT = "c1"
MAX_CURSOR_LENGTH = 300

Position = str | int | dt.datetime
"""What a position is made of: ids (text), sequence numbers, moments (sent as ISO text)."""

Cursor = Annotated[
    str | None,
    Query(
        max_length=MAX_CURSOR_LENGTH,
        description="the `next` (or `next_cursor`) of the previous page, unchanged; absent: the first page",
    ),
]


class InvalidCursor(InvalidInput):
    """A cursor this API did not give out (422)."""

    code = "invalid_cursor"

    def __init__(self) -> None:
        super().__init__("the cursor is not one this list gave out; pass a page's `next` unchanged")


def encode(*position: Position) -> str:
    """The cursor continuing after ``position`` (the last item's sort keys, in order)."""
    parts = [FORMAT, *(p.isoformat() if isinstance(p, dt.datetime) else p for p in position)]
    text = json.dumps(parts, separators=(",", ":"), ensure_ascii=True)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(cursor: str, *shape: type[Position]) -> tuple[Any, ...]:
    """The position in ``cursor``, each part of the type ``shape`` names; ``InvalidCursor``
    for anything ``encode`` could not have made with that shape."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw.decode("ascii"))
    except (binascii.Error, ValueError):
        raise InvalidCursor() from None
    if not isinstance(parts, list) or len(parts) != len(shape) + 1 or parts[0] != FORMAT:
        raise InvalidCursor()
    position = tuple(_as(kind, part) for kind, part in zip(shape, parts[1:], strict=True))
    if encode(*position) != cursor:
        raise InvalidCursor()  # the same position spelt otherwise: not text this API wrote
    return position


def _as(kind: type[Position], part: Any) -> Position:
    if kind is int:
        if type(part) is not int or not 0 <= part < 2**63:
            raise InvalidCursor()
        return part
    if not isinstance(part, str) or not part or len(part) > MAX_CURSOR_LENGTH:
        raise InvalidCursor()
    if kind is dt.datetime:
        try:
            moment = dt.datetime.fromisoformat(part)
        except ValueError:
            raise InvalidCursor() from None
        if moment.tzinfo is None:
            raise InvalidCursor()
        return moment
    return part
