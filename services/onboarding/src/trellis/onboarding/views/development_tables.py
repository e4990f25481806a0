"""Read-view tables of people's development: the training catalogue, enrolments and
mentorships (built by ``DevelopmentRecords``, never by commands)."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Date, DateTime, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()
When = DateTime(timezone=True)  # stored in UTC

trainings = Table(
    "trainings",
    metadata,
    Column("training_id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("title", String(300), nullable=False),
    Column("description", Text, nullable=False),
    Column("url", String(2000)),
    Column("skills", JSON, nullable=False),  # the tags, in their order
    Column("duration_minutes", Integer),
    Column("retired", Boolean, nullable=False),
    Index("ix_trainings_tenant", "tenant_id", "title"),
)

training_skills = Table(
    "training_skills",
    metadata,
    Column("training_id", String(64), primary_key=True),
    Column("skill", String(40), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Index("ix_training_skills_skill", "tenant_id", "skill"),
)

training_enrolments = Table(
    "training_enrolments",
    metadata,
    Column("enrolment_id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("training_id", String(64), nullable=False),
    Column("training_title", String(300), nullable=False),
    Column("employee_id", String(64), nullable=False),
    Column("team_id", String(64)),  # when enrolled: the team the KPIs count it for
    Column("enrolled_by", String(64), nullable=False),
    Column("enrolled_on", Date, nullable=False),
    Column("enrolled_at", When, nullable=False),  # the event's time: the order of the lists
    Column("target_date", Date, nullable=False),
    Column("status", String(20), nullable=False),  # open, completed, withdrawn
    Column("completed_on", Date),
    Column("on_time", Boolean),
    Column("withdrawn_on", Date),
    Column("plan_id", String(64)),
    Column("milestone_id", String(64)),
    Index("ix_training_enrolments_employee", "tenant_id", "employee_id"),
    Index("ix_training_enrolments_training", "tenant_id", "training_id"),
    Index("ix_training_enrolments_order", "tenant_id", "enrolled_at", "enrolment_id"),
)

mentorships = Table(
    "mentorships",
    metadata,
    Column("mentorship_id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("mentor_id", String(64), nullable=False),
    Column("mentee_id", String(64), nullable=False),
    Column("starts_on", Date, nullable=False),
    Column("ends_on", Date, nullable=False),
    Column("objectives", JSON, nullable=False),
    Column("goal_ids", JSON, nullable=False),
    Column("ended_on", Date),
    Column("arranged_at", When, nullable=False),  # the event's time: the order of the lists
    Index("ix_mentorships_mentor", "tenant_id", "mentor_id"),
    Index("ix_mentorships_mentee", "tenant_id", "mentee_id"),
    Index("ix_mentorships_order", "tenant_id", "arranged_at", "mentorship_id"),
)
