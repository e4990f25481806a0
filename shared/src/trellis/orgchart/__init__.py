"""A service's own replica of the org chart, built from the onboarding service's events.

Services never read each other's tables: a service that needs "who manages whom" (the
goals service for permissions, feedback for visibility, notifications for who is told)
adds ``OrgChart(<its name>)`` to its consumers and ``MIGRATIONS`` to its migrations,
and asks an ``OrgDirectory``::

    consumers=[OrgChart("goals"), ...]
    migrations=(Path(...) / "versions", orgchart.MIGRATIONS)
"""

from __future__ import annotations

from pathlib import Path

from trellis.orgchart.directory import Employee, OrgDirectory
from trellis.orgchart.projection import OrgChart

MIGRATIONS = Path(__file__).parent / "migrations" / "versions"

__all__ = ["MIGRATIONS", "Employee", "OrgChart", "OrgDirectory"]
