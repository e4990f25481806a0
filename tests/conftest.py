"""Fixtures shared by the cross-service tests."""

from .ops_system import goals_overrides, ops  # noqa: F401  (fixtures)
