"""Wires the feedback service: settings, events, migrations, projections, deadlines, API."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from trellis.contracts import registry_of
from trellis.contracts.feedback import registry
from trellis.core.runtime.service import Runtime, ServiceDefinition
from trellis.core.runtime.settings import GENERATE_A_SECRET, ServiceSettings
from trellis.core.store.repository import Repository
from trellis.feedback.api import routers
from trellis.feedback.application.agenda_followups import AgendaFollowUps
from trellis.feedback.application.agendas import AgendaCommands
from trellis.feedback.application.checkin_deadlines import CheckInDeadlines
from trellis.feedback.application.checkin_reminders import CheckInReminders
from trellis.feedback.application.checkins import CheckInCommands
from trellis.feedback.application.feedback import FeedbackCommands, FeedbackPolicy
from trellis.feedback.application.oversight import Oversight
from trellis.feedback.application.recognition import RecognitionCommands
from trellis.feedback.application.reviews import ReviewCommands
from trellis.feedback.application.wiring import FeedbackApplication
from trellis.feedback.domain.agenda import Agenda
from trellis.feedback.domain.anonymity import AnonymousFeedbackFingerprint
from trellis.feedback.domain.checkin import CheckIn
from trellis.feedback.domain.checkin_reminder import CheckInReminder
from trellis.feedback.domain.checkin_schedule import CheckInSchedule
from trellis.feedback.domain.feedback import Feedback, FeedbackRequest
from trellis.feedback.domain.recognition import Recognition
from trellis.feedback.domain.review_cycle import ReviewCycle
from trellis.feedback.reactions.schedules_follow_org import SchedulesFollowOrg
from trellis.feedback.views.action_item_board import ActionItemBoard
from trellis.feedback.views.checkin_board import CheckInBoard
from trellis.feedback.views.feedback_index import FeedbackIndex
from trellis.feedback.views.recognition_wall import RecognitionWall
from trellis.feedback.views.review_progress import ReviewProgress
from trellis.orgchart import MIGRATIONS as ORGCHART_MIGRATIONS
from trellis.orgchart import OrgChart, OrgDirectory

DEV_ANONYMITY_KEY = "trellis-dev-anonymity-key-change-me-in-production"


class FeedbackSettings(ServiceSettings):
    """Environment prefix ``TRELLIS_FEEDBACK_`` (e.g. ``TRELLIS_FEEDBACK_ANONYMITY_KEY``)."""

    model_config = SettingsConfigDict(env_prefix="TRELLIS_FEEDBACK_", extra="ignore")

    service: str = "feedback"
    http_port: int = 8003
    # The HMAC key of anonymous-feedback fingerprints (see domain/anonymity.py): a secret,
    # kept out of the database; rotating it forgets every fingerprint.
    anonymity_key: str = Field(default=DEV_ANONYMITY_KEY, min_length=16)
    anonymous_window: Literal["month", "quarter", "year"] = (
        "quarter"  # one anonymous feedback per pair per window
    )
    anonymous_allowed: bool = True
    visibilities: list[Literal["private", "manager", "public"]] = ["private", "manager", "public"]
    company_values: list[str] = []  # empty: any value may be named in a recognition

    def development_values(self) -> dict[str, str]:
        found = super().development_values()
        if self.anonymity_key == DEV_ANONYMITY_KEY:
            # a published key lets anyone recompute who gave each anonymous feedback
            found[self.setting_name("anonymity_key")] = GENERATE_A_SECRET
        return found


def build(runtime: Runtime) -> FeedbackApplication:
    settings = runtime.settings
    assert isinstance(settings, FeedbackSettings)
    org = OrgDirectory()
    oversight = Oversight(org)
    schedules = Repository(runtime.store, CheckInSchedule)
    checkins = Repository(runtime.store, CheckIn)
    agendas = Repository(runtime.store, Agenda)
    followups = AgendaFollowUps(agendas)
    checkin_deadlines = CheckInDeadlines(schedules, checkins, followups)
    reviews = ReviewCommands(
        sessions=runtime.sessions,
        cycles=Repository(runtime.store, ReviewCycle),
        org=org,
        clock=runtime.clock,
        wake_deadlines=runtime.deadlines.wake,
    )
    return FeedbackApplication(
        oversight=oversight,
        schedules=schedules,
        checkin_deadlines=checkin_deadlines,
        checkins=CheckInCommands(
            sessions=runtime.sessions,
            schedules=schedules,
            checkins=checkins,
            agendas=followups,
            oversight=oversight,
            clock=runtime.clock,
            wake_deadlines=runtime.deadlines.wake,
        ),
        agendas=AgendaCommands(
            sessions=runtime.sessions,
            schedules=schedules,
            checkins=checkins,
            agendas=agendas,
            followups=followups,
            wake_deadlines=runtime.deadlines.wake,
        ),
        feedback=FeedbackCommands(
            sessions=runtime.sessions,
            feedback=Repository(runtime.store, Feedback),
            requests=Repository(runtime.store, FeedbackRequest),
            fingerprints=Repository(runtime.store, AnonymousFeedbackFingerprint),
            org=org,
            clock=runtime.clock,
            policy=FeedbackPolicy(
                visibilities=tuple(settings.visibilities),
                anonymous_allowed=settings.anonymous_allowed,
                anonymity_key=settings.anonymity_key,
                anonymity_window=settings.anonymous_window,
            ),
        ),
        recognition=RecognitionCommands(
            sessions=runtime.sessions,
            recognitions=Repository(runtime.store, Recognition),
            oversight=oversight,
            company_values=tuple(settings.company_values),
        ),
        reviews=reviews,
        consumers=[
            OrgChart("feedback"),
            CheckInBoard(),
            ActionItemBoard(),
            FeedbackIndex(),
            RecognitionWall(),
            ReviewProgress(),
            SchedulesFollowOrg(schedules, followups),
        ],
        deadlines={
            **checkin_deadlines.handlers(),
            **CheckInReminders(schedules, Repository(runtime.store, CheckInReminder)).handlers(),
            **followups.handlers(),
            **reviews.handlers(),
        },
    )


SERVICE = ServiceDefinition(
    contracts=registry_of,
    name="feedback",
    title="Trellis feedback",
    description=(
        "Recurring 1:1 check-ins (due, missed, completed with key-result progress) with their "
        "agendas (talking points, action items), feedback with visibility rules and anonymity, "
        "recognition, review cycles, and their KPIs."
    ),
    settings=FeedbackSettings,
    registry=registry,
    migrations=(Path(__file__).parent / "migrations" / "versions", ORGCHART_MIGRATIONS),
    build=build,
    routers=routers,
)
