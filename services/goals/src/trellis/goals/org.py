"""Who manages whom, as the goals service knows it.

Two sources, either of which grants: the ``reporting_lines`` read view (to be filled
by a projection of the onboarding service's org events, direct and indirect lines),
and, until that exists, the ``reports`` claim of the actor's token.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from trellis.core.auth import Actor
from trellis.goals.views.tables import reporting_lines


class OrgDirectory:
    async def manages(self, session: AsyncSession, actor: Actor, employee_id: str) -> bool:
        if employee_id == actor.employee_id:
            return False
        if employee_id in actor.reports:
            return True
        result = await session.execute(
            select(reporting_lines.c.employee_id).where(
                reporting_lines.c.tenant_id == actor.tenant_id,
                reporting_lines.c.manager_id == actor.employee_id,
                reporting_lines.c.employee_id == employee_id,
            )
        )
        return result.first() is not None
