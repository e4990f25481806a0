"""Whom a viewer oversees: the people whose check-ins, schedules and KPI rows they may see.

- ``hr`` and ``admin``: everyone in their tenant;
- anyone else: themself and everyone who reports to them, at any depth (the service's own
  org chart replica, as it is when asked).

Feedback content is not governed by this (see ``trellis.feedback.domain.visibility``):
oversight lets a manager see *that* a report received feedback (a count), never *what*.
"""

from __future__ import annotations

from trellis.core.errors import NotFound
from trellis.core.runtime.auth import Actor
from trellis.core.store.transaction import Transaction
from trellis.orgchart import Employee, OrgDirectory


class Oversight:
    def __init__(self, org: OrgDirectory) -> None:
        self.org = org

    async def oversees(self, session: Transaction, actor: Actor, employee_id: str) -> bool:
        if actor.is_admin_or_hr or actor.employee_id == employee_id:
            return True
        return await self.org.manages(session, actor.tenant_id, actor.employee_id, employee_id)

    async def scope(self, session: Transaction, actor: Actor) -> set[str] | None:
        """The employee ids the actor oversees; None for everyone in the tenant."""
        if actor.is_admin_or_hr:
            return None
        reports = await self.org.reports(session, actor.tenant_id, actor.employee_id, indirect=True)
        return {actor.employee_id, *reports}

    async def require_oversees(self, session: Transaction, actor: Actor, employee_id: str) -> None:
        """Not overseen reads as not found: a stranger learns nothing, not even that it exists."""
        if not await self.oversees(session, actor, employee_id):
            raise NotFound(f"employee {employee_id} not found")

    async def active_employee(self, session: Transaction, tenant_id: str, employee_id: str) -> Employee:
        """An employee of the tenant who still works here, or NotFound."""
        found = await self.org.employee(session, tenant_id, employee_id)
        if found is None or not found.active:
            raise NotFound(f"employee {employee_id} not found")
        return found
