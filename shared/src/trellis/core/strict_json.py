"""Strict JSON: the one encoding of everything Trellis writes (events, outbox bodies, read views).

Python's ``json`` writes ``NaN`` and ``Infinity`` and reads them back, but they are not JSON:
no other parser accepts them, and pydantic writes them as ``null`` instead. Both ways an
event stops matching its own contract. Here a non-finite number is an error when encoding
and when decoding, everywhere.

One thing reads as an infinity: a number too large for a float (``1e400``). It is valid
JSON, so it is not refused here; the field that receives it refuses it, naming its
location (a 422, where the literals above get a 400: ``tests/test_strict_requests.py``),
and the event store's contract check keeps it out of every event.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic_core import from_json


class NonFiniteNumber(ValueError):
    """A JSON document (or a value to be encoded) holds NaN or an infinity."""


def _refuse(name: str) -> Any:
    raise NonFiniteNumber(f"{name} is not a JSON number")


def dumps(value: Any) -> str:
    """Compact JSON; raises ``NonFiniteNumber`` for NaN or an infinity anywhere in ``value``."""
    try:
        return json.dumps(value, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    except ValueError as exc:
        if "out of range float" in str(exc).lower():
            raise NonFiniteNumber(str(exc)) from exc
        raise


def loads(text: str | bytes) -> Any:
    """Parse JSON, refusing the ``NaN``/``Infinity``/``-Infinity`` literals.

    pydantic-core's parser first (it refuses those literals itself, and reads a view's or
    an event's JSON column about five times faster than ``json.loads`` with a
    ``parse_constant`` hook, which builds a decoder per call). Whatever it refuses goes
    to the standard parser, which names a non-finite literal (``NonFiniteNumber``), raises
    its usual error for anything else, and reads what only it accepts (a lone surrogate
    escape, UTF-16 bytes) exactly as before.
    """
    try:
        return from_json(text, allow_inf_nan=False)
    except ValueError:
        return json.loads(text, parse_constant=_refuse)
