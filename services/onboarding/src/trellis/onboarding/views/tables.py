"""Read-view tables of onboarding plans (built by ``OnboardingPlans``, never by commands).

The org chart's tables are the shared replica's (``trellis.orgchart.tables``), projected
from this service's own stream like any other service's copy.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Date, Index, Integer, MetaData, String, Table

metadata = MetaData()

plan_summaries = Table(
    "plan_summaries",
    metadata,
    Column("plan_id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("employee_id", String(64), nullable=False),
    Column("manager_id", String(64)),  # at the start; queries ask the org chart for today's
    Column("mentor_id", String(64)),
    Column("team_id", String(64)),  # at the start: the team KPIs count it for
    Column("template_id", String(64)),
    Column("start_date", Date, nullable=False),
    Column("completed_on", Date),
    Index("ix_plan_summaries_employee", "tenant_id", "employee_id"),
    Index("ix_plan_summaries_mentor", "tenant_id", "mentor_id"),
)

plan_milestones = Table(
    "plan_milestones",
    metadata,
    Column("plan_id", String(64), primary_key=True),
    Column("milestone_id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("employee_id", String(64), nullable=False),
    Column("team_id", String(64)),
    Column("template_id", String(64)),
    Column("title", String(500), nullable=False),
    Column("assignee", String(20), nullable=False),
    Column("due_date", Date, nullable=False),
    Column("completed_on", Date),
    Column("completed_by", String(64)),
    Column("late", Boolean, nullable=False),
    Column("missed", Boolean, nullable=False),  # missed at its current due date, still open
    Column("was_missed", Boolean, nullable=False),  # missed at some due date, ever
    Index("ix_plan_milestones_employee", "tenant_id", "employee_id"),
    Index("ix_plan_milestones_team", "tenant_id", "team_id"),
    Index("ix_plan_milestones_template", "tenant_id", "template_id"),
)

template_summaries = Table(
    "template_summaries",
    metadata,
    Column("template_id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("name", String(300), nullable=False),
    Column("milestones", Integer, nullable=False),
    Column("retired", Boolean, nullable=False),
    Index("ix_template_summaries_tenant", "tenant_id"),
)
