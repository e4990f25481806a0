"""The feedback service's parts, as its routers, reactions and deadline handlers use them."""

from __future__ import annotations

from dataclasses import dataclass

from trellis.core.runtime.service import Application
from trellis.core.store.repository import Repository
from trellis.feedback.application.agendas import AgendaCommands
from trellis.feedback.application.checkin_deadlines import CheckInDeadlines
from trellis.feedback.application.checkins import CheckInCommands
from trellis.feedback.application.feedback import FeedbackCommands
from trellis.feedback.application.oversight import Oversight
from trellis.feedback.application.recognition import RecognitionCommands
from trellis.feedback.application.reviews import ReviewCommands
from trellis.feedback.domain.checkin_schedule import CheckInSchedule


@dataclass
class FeedbackApplication(Application):
    oversight: Oversight
    schedules: Repository[CheckInSchedule]
    checkin_deadlines: CheckInDeadlines
    checkins: CheckInCommands
    agendas: AgendaCommands
    feedback: FeedbackCommands
    recognition: RecognitionCommands
    reviews: ReviewCommands
