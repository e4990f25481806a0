"""What the org's aggregates read of each other, so that neither imports the other.

An employee joins a team and has a manager; a team has a lead. Each aggregate checks
the other by what it reads of it (``TeamRef``, ``EmployeeRef``), and both refuse a
change that involves someone who has left (``Offboarded``).
"""

from __future__ import annotations

from typing import Protocol

from trellis.core.errors import RuleViolation


class Offboarded(RuleViolation):
    """The employee has left: nothing about them changes any more."""

    code = "employee_offboarded"


class TeamRef(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def tenant_id(self) -> str: ...

    @property
    def exists(self) -> bool: ...


class EmployeeRef(Protocol):
    @property
    def employee_id(self) -> str: ...

    @property
    def tenant_id(self) -> str: ...

    @property
    def exists(self) -> bool: ...

    @property
    def is_active(self) -> bool: ...
