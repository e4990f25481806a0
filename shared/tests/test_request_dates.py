"""Dates and moments a caller gives: ISO 8601 text within the years 1900 to 2200."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import TypeAdapter, ValidationError

from trellis.core.runtime.http import Date, DateTime

DATE, MOMENT = TypeAdapter(Date), TypeAdapter(DateTime)


def test_the_far_ends_are_taken() -> None:
    assert DATE.validate_json('"1900-01-01"') == dt.date(1900, 1, 1)
    assert DATE.validate_json('"2200-12-31"') == dt.date(2200, 12, 31)
    assert MOMENT.validate_json('"2200-12-31T23:59:59Z"').year == 2200


@pytest.mark.parametrize(
    "text", ['"0001-01-01"', '"1899-12-31"', '"2201-01-01"', '"9999-12-31"', "5", "1.5e9"]
)
def test_dates_outside_the_years_or_written_as_numbers_are_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        DATE.validate_json(text)


@pytest.mark.parametrize(
    "text", ['"0001-01-01T00:00:00Z"', '"9999-12-31T23:59:59Z"', "6.67865035891493e-12", "1700000000"]
)
def test_moments_outside_the_years_or_written_as_numbers_are_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        MOMENT.validate_json(text)
