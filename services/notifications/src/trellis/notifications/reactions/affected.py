"""Who is affected: the reactions that turn the other services' events into notifications.

One reaction per source stream (goals, onboarding, feedback), each a durable consumer of
that stream. For every event it (1) asks the rules (``rules.py``) who is affected, with
the facts as they stood just before the event, (2) learns from the event
(``knowledge.py``), and (3) lets the ``Notifier`` create the notifications, all in the
consumer's transaction, with the processed-event record. A reaction appends events, so
it is a ``Reaction``, never rebuilt: rebuilding the inbox, or any read view,
notifies nobody.
"""

from __future__ import annotations

from trellis.contracts import feedback, goals, onboarding
from trellis.contracts.envelope import RecordedEvent
from trellis.core.consuming.projection import Reaction
from trellis.core.store.transaction import Transaction
from trellis.notifications.application.notifier import Notifier
from trellis.notifications.reactions.facts import StoredFacts
from trellis.notifications.reactions.knowledge import learn
from trellis.notifications.reactions.rules import notices_for


class AffectedReaction(Reaction):
    """Base of the three reactions; a subclass names its stream and the events it needs."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    async def handle(self, session: Transaction, recorded: RecordedEvent) -> None:
        envelope = recorded.envelope
        facts = StoredFacts(session, envelope.tenant_id)
        notices = await notices_for(recorded.event, facts)
        await learn(session, recorded.event, envelope)
        if notices:
            await self.notifier.notify(session, envelope, self.source, notices)


class GoalsAffected(AffectedReaction):
    name = "notifications-goals-affected"
    source = "goals"
    consumes = (
        goals.GoalCreated,
        goals.GoalChanged,
        goals.GoalAligned,
        goals.GoalUnaligned,
        goals.GoalStatusChanged,
        goals.GoalPaceChanged,
        goals.GoalDueSoon,
        goals.GoalCompleted,
        goals.GoalRetired,
        goals.RealignmentResolved,
    )


class OnboardingAffected(AffectedReaction):
    name = "notifications-onboarding-affected"
    source = "onboarding"
    consumes = (
        onboarding.OnboardingPlanStarted,
        onboarding.MentorAssigned,
        onboarding.MilestoneMissed,
        onboarding.MilestoneDueSoon,
        onboarding.TrainingEnrolled,
        onboarding.TrainingDueSoon,
        onboarding.TrainingEnrolmentCompleted,
        onboarding.MentorshipArranged,
        onboarding.MentorshipEnded,
    )


class FeedbackAffected(AffectedReaction):
    name = "notifications-feedback-affected"
    source = "feedback"
    consumes = (
        feedback.CheckInComingUp,
        feedback.CheckInCompleted,
        feedback.CheckInMissed,
        feedback.TalkingPointAdded,
        feedback.ActionItemAssigned,
        feedback.ActionItemOverdue,
        feedback.FeedbackGiven,
        feedback.FeedbackRequested,
        feedback.RecognitionGiven,
        feedback.ReviewCycleOpened,
        feedback.PeerReviewersChosen,
        feedback.ReviewSubmitted,
        feedback.ReviewCycleClosingSoon,
    )
