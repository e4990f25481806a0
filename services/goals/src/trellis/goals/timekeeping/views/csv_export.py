"""A person's time entries as CSV (RFC 4180, a header row, UTF-8), safe to open in a spreadsheet.

A cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return) is
read as a formula by spreadsheet programs (CSV injection, OWASP): such a cell is written
with a leading ``'``, which they show as text. Labels, notes and goal titles are all
someone's free text, so every text cell goes through it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable
from typing import Any

COLUMNS = (
    "date",
    "iso_week",
    "minutes",
    "goal_id",
    "goal_title",
    "key_result_id",
    "key_result_name",
    "label",
    "note",
    "entry_id",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    """``value`` as a CSV cell that no spreadsheet runs as a formula."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _line(values: Iterable[Any]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([cell(v) for v in values])
    return out.getvalue()


def header() -> str:
    return _line(COLUMNS)


def row(entry: dict[str, Any]) -> str:
    return _line([entry["day"], *(entry[c] for c in COLUMNS[1:-1]), entry["id"]])


async def lines(entries: AsyncIterator[dict[str, Any]]) -> AsyncIterator[str]:
    """The header, then one line per entry, as they come."""
    yield header()
    async for entry in entries:
        yield row(entry)
