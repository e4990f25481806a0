"""Read-view tables of the goals service (built by projections, never written by commands)."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Date, DateTime, Float, Index, Integer, MetaData, String, Table

metadata = MetaData()

# The alignment tree: one row per goal with its rolled-up progress.
goal_nodes = Table(
    "goal_nodes",
    metadata,
    Column("goal_id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("level", String(20), nullable=False),
    Column("title", String(500), nullable=False),
    Column("description", String, nullable=False, default=""),
    Column("owner_id", String(64), nullable=False),
    Column("team_id", String(64)),
    Column("period", String(50), nullable=False),
    Column("start_date", Date),
    Column("due_date", Date),
    Column("status", String(20), nullable=False),
    Column("status_by_hand", Boolean, nullable=False, default=False),  # since the last progress
    Column("kind", String(20), nullable=False, default="performance"),  # development: seen by few
    Column("parent_id", String(64)),
    Column("progress_rollup", String(20), nullable=False),
    Column("weight", Float, nullable=False),
    Column("progress", Float, nullable=False, default=0.0),
    Column("realignment_causes", JSON, nullable=False, default=list),
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_goal_nodes_tenant_level", "tenant_id", "level"),
    Index("ix_goal_nodes_parent", "parent_id"),
    Index("ix_goal_nodes_owner", "tenant_id", "owner_id"),
)

goal_key_results = Table(
    "goal_key_results",
    metadata,
    Column("key_result_id", String(64), primary_key=True),
    Column("goal_id", String(64), nullable=False, index=True),
    Column("tenant_id", String(64), nullable=False),
    Column("name", String(500), nullable=False),
    Column("start", Float, nullable=False),
    Column("target", Float, nullable=False),
    Column("current", Float, nullable=False),
    Column("unit", String(50), nullable=False, default=""),
    Column("weight", Float, nullable=False),
    Column("progress", Float, nullable=False),
    Column("confidence", Integer),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# The realignment process's own memory of the alignment links (child → parent), kept in
# step with the events it has processed so it never depends on another view's lag.
realignment_links = Table(
    "realignment_links",
    metadata,
    Column("goal_id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("parent_id", String(64), index=True),
    Column("retired", Boolean, nullable=False, default=False),
)
