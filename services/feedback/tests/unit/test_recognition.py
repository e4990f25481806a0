"""Recognition, given-when-then."""

from __future__ import annotations

from trellis.contracts.feedback import RecognitionGiven
from trellis.core.errors import InvalidInput
from trellis.feedback.domain.recognition import Recognition

from .given_when_then import TENANT, then, then_raises


def test_recognising_several_people_for_a_value() -> None:
    then(
        Recognition("r", TENANT),
        lambda r: r.give(
            giver_id="mia", recipient_ids=["emil", "olga", "emil"], message="launch!", value="ownership"
        ),
        RecognitionGiven(
            recognition_id="r",
            giver_id="mia",
            recipient_ids=["emil", "olga"],
            message="launch!",
            value="ownership",
        ),
    )


def test_recognition_goes_to_others_with_a_message_and_a_known_value() -> None:
    then_raises(
        Recognition("r", TENANT),
        lambda r: r.give(giver_id="mia", recipient_ids=["mia"], message="me"),
        InvalidInput,
    )
    then_raises(
        Recognition("r", TENANT),
        lambda r: r.give(giver_id="mia", recipient_ids=[], message="x"),
        InvalidInput,
    )
    then_raises(
        Recognition("r", TENANT),
        lambda r: r.give(giver_id="mia", recipient_ids=["emil"], message=" "),
        InvalidInput,
    )
    then_raises(
        Recognition("r", TENANT),
        lambda r: r.give(
            giver_id="mia", recipient_ids=["emil"], message="x", value="speed", allowed_values=("care",)
        ),
        InvalidInput,
    )
