"""The AsyncAPI document tells consumers where `aggregate_version` has holes (private events)."""

from __future__ import annotations

from trellis.contracts import registry_of
from trellis.contracts.subjects import Subjects
from trellis.core.messaging.asyncapi import VERSION_GAPS, asyncapi_document


def document(service: str) -> dict[str, object]:
    return asyncapi_document(
        service=service,
        title=service,
        version="1",
        description="",
        registry=registry_of(service),
        subjects=Subjects("trellis"),
    )


def test_the_private_events_that_make_holes_are_named_per_aggregate_type() -> None:
    doc = document("feedback")
    private = doc["x-private-events"]
    assert isinstance(private, dict)
    assert private["checkin"] == ["CheckInNotesRecorded", "CheckInPrivateNoteRecorded"]
    assert "CheckInNotesRecorded" not in doc["channels"]  # type: ignore[operator]
    channels = doc["channels"]  # type: ignore[index]
    assert "CheckInNotesRecorded" in channels["CheckInCompleted"]["description"]
    assert "skips" not in channels["RecognitionGiven"]["description"]  # no private events there
    envelope = doc["components"]["schemas"]["CheckInCompleted.envelope"]  # type: ignore[index]
    assert envelope["properties"]["aggregate_version"]["description"] == VERSION_GAPS
    assert VERSION_GAPS in doc["info"]["description"]  # type: ignore[index]


def test_a_service_without_private_events_says_every_version_is_published() -> None:
    assert document("notifications")["x-private-events"] == {}
    # private time tracking, hosted by the goals service: every event of its aggregate is private
    assert document("goals")["x-private-events"]["timesheet"] == [
        "TimeEntryChanged",
        "TimeEntryDeleted",
        "TimeEntryLogged",
        "TimesheetErased",
    ]
