"""Strict JSON: the one encoding of everything Trellis writes (events, outbox bodies, read views).

Python's ``json`` writes ``NaN`` and ``Infinity`` and reads them back, but they are not JSON:
no other parser accepts them, and pydantic writes them as ``null`` instead. Both ways an
event stops matching its own contract. Here a non-finite number is an error when encoding
and when decoding, everywhere.
"""

from __future__ import annotations

import json
from typing import Any


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
    """Parse JSON, refusing the ``NaN``/``Infinity``/``-Infinity`` literals."""
    return json.loads(text, parse_constant=_refuse)
