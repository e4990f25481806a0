"""The time log: one row per live time entry, in the clear, read by its person alone.

Written in the transaction that appends the timesheet's events (``time_log.py``); an entry
deleted, or a timesheet erased, leaves no row behind.
"""

from __future__ import annotations

from sqlalchemy import Column, Date, DateTime, Index, Integer, MetaData, String, Table

from trellis.goals.timekeeping.domain.entry import MAX_LABEL

metadata = MetaData()

time_entries = Table(
    "time_entries",
    metadata,
    Column("entry_id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("person_id", String(64), nullable=False),
    Column("day", Date, nullable=False),
    Column("minutes", Integer, nullable=False),
    Column("goal_id", String(64)),
    Column("key_result_id", String(64)),
    Column("label", String(MAX_LABEL)),
    Column("note", String, nullable=False, default=""),
    Column("logged_at", DateTime(timezone=True), nullable=False),
    Column("changed_at", DateTime(timezone=True)),
    Index("ix_time_entries_person_day", "tenant_id", "person_id", "day"),
)
