"""Feedback, requests, anonymity and visibility, given-when-then."""

from __future__ import annotations

import pytest

from trellis.contracts.feedback import (
    AnonymousFeedbackFingerprinted,
    FeedbackBodyRecorded,
    FeedbackGiven,
    FeedbackRequestAnswered,
    FeedbackRequestDeclined,
    FeedbackRequested,
)
from trellis.core.errors import InvalidInput, RuleViolation
from trellis.feedback.domain.anonymity import AnonymousFeedbackFingerprint, fingerprint, window_of
from trellis.feedback.domain.feedback import Feedback, FeedbackRequest, kind_between
from trellis.feedback.domain.visibility import may_read

from .given_when_then import TENANT, given, then, then_raises


def test_giving_feedback_records_the_body_privately_beside_the_published_fact() -> None:
    then(
        Feedback("f", TENANT),
        lambda f: f.give(
            recipient_id="emil", giver_id="olga", kind="peer", visibility="manager", body="great demo"
        ),
        FeedbackGiven(
            feedback_id="f", recipient_id="emil", giver_id="olga", kind="peer", visibility="manager"
        ),
        FeedbackBodyRecorded(feedback_id="f", body="great demo"),
    )
    assert not FeedbackBodyRecorded.published and FeedbackGiven.published


def test_anonymous_feedback_has_no_giver_anywhere() -> None:
    then(
        Feedback("f", TENANT),
        lambda f: f.give(recipient_id="emil", giver_id=None, kind="peer", visibility="private", body="b"),
        FeedbackGiven(
            feedback_id="f", recipient_id="emil", giver_id=None, anonymous=True, visibility="private"
        ),
        FeedbackBodyRecorded(feedback_id="f", body="b"),
    )


@pytest.mark.parametrize("kind", ["manager", "upward"])
def test_only_peer_feedback_may_be_anonymous(kind: str) -> None:
    then_raises(
        Feedback("f", TENANT),
        lambda f: f.give(recipient_id="emil", giver_id=None, kind=kind, visibility="private", body="b"),
        RuleViolation,
        match="only peer feedback",
    )


def test_requested_feedback_cannot_be_anonymous_and_feedback_goes_to_someone_else() -> None:
    then_raises(
        Feedback("f", TENANT),
        lambda f: f.give(
            recipient_id="emil", giver_id=None, kind="peer", visibility="private", body="b", request_id="r"
        ),
        RuleViolation,
        match="request names its giver",
    )
    then_raises(
        Feedback("f", TENANT),
        lambda f: f.give(recipient_id="emil", giver_id="emil", kind="peer", visibility="private", body="b"),
        InvalidInput,
    )
    then_raises(
        Feedback("f", TENANT),
        lambda f: f.give(recipient_id="emil", giver_id="olga", kind="peer", visibility="team", body="b"),
        InvalidInput,
    )


def test_the_kind_follows_the_reporting_line() -> None:
    assert kind_between(True, False) == "manager"
    assert kind_between(False, True) == "upward"
    assert kind_between(False, False) == "peer"


REQUESTED = FeedbackRequested(
    request_id="r", requester_id="mia", giver_id="olga", about_id="emil", goal_id=None
)


def test_a_request_is_answered_or_declined_once() -> None:
    then(
        given(FeedbackRequest, "r", REQUESTED),
        lambda r: r.answer("f"),
        FeedbackRequestAnswered(request_id="r", feedback_id="f"),
    )
    then(
        given(FeedbackRequest, "r", REQUESTED),
        lambda r: r.decline("busy"),
        FeedbackRequestDeclined(request_id="r", requester_id="mia", giver_id="olga", reason="busy"),
    )
    answered = given(
        FeedbackRequest, "r", REQUESTED, FeedbackRequestAnswered(request_id="r", feedback_id="f")
    )
    then_raises(answered, lambda r: r.decline(""), RuleViolation)
    then_raises(answered, lambda r: r.answer("f2"), RuleViolation)


def test_nobody_is_asked_about_themself_or_asks_themself() -> None:
    for giver, about in (("olga", "olga"), ("mia", "emil")):
        then_raises(
            FeedbackRequest("r", TENANT),
            lambda r, g=giver, a=about: r.request(
                requester_id="mia", giver_id=g, about_id=a, goal_id=None, message=""
            ),
            InvalidInput,
        )


def test_a_fingerprint_is_taken_once() -> None:
    then(
        AnonymousFeedbackFingerprint("anon-x", TENANT),
        lambda a: a.take("2026-Q1"),
        AnonymousFeedbackFingerprinted(window="2026-Q1"),
    )
    taken = given(AnonymousFeedbackFingerprint, "anon-x", AnonymousFeedbackFingerprinted(window="2026-Q1"))
    then_raises(taken, lambda a: a.take("2026-Q1"), RuleViolation)


def test_fingerprints_depend_on_key_giver_recipient_and_window_and_hide_them() -> None:
    base = {"tenant_id": "acme", "giver_id": "olga", "recipient_id": "emil", "window": "2026-Q1"}
    one = fingerprint("k" * 32, **base)
    assert one == fingerprint("k" * 32, **base) and one.startswith("anon-") and len(one) == 53
    assert "olga" not in one and "emil" not in one
    others = [
        fingerprint("j" * 32, **base),
        fingerprint("k" * 32, **{**base, "giver_id": "oscar"}),
        fingerprint("k" * 32, **{**base, "recipient_id": "erik"}),
        fingerprint("k" * 32, **{**base, "window": "2026-Q2"}),
    ]
    assert len({one, *others}) == 5


def test_windows() -> None:
    import datetime as dt

    day = dt.date(2026, 8, 14)
    assert (window_of(day, "month"), window_of(day, "quarter"), window_of(day, "year")) == (
        "2026-08",
        "2026-Q3",
        "2026",
    )


VIEWERS = {
    # viewer: (manages the recipient?)
    "emil": False,  # the recipient
    "olga": False,  # the giver
    "mia": True,  # the recipient's manager
    "ceo": True,  # the manager's manager
    "pete": False,  # an unrelated peer (or hr/admin: roles add nothing)
}
MAY_READ = {
    ("private", False): {"emil", "olga"},
    ("manager", False): {"emil", "olga", "mia", "ceo"},
    ("public", False): set(VIEWERS),
    ("private", True): {"emil"},
    ("manager", True): {"emil", "mia", "ceo"},
    ("public", True): set(VIEWERS),
}


@pytest.mark.parametrize(("visibility", "anonymous"), list(MAY_READ))
def test_who_may_read_each_visibility(visibility: str, anonymous: bool) -> None:
    readers = {
        viewer
        for viewer, manages in VIEWERS.items()
        if may_read(
            viewer_id=viewer,
            recipient_id="emil",
            giver_id=None if anonymous else "olga",
            visibility=visibility,
            viewer_manages_recipient=manages,
        )
    }
    assert readers == MAY_READ[(visibility, anonymous)]
