"""Commands on the org: hiring, manager/team/title changes, offboarding, teams.

Only admin and hr change the org. Every command takes the tenant's org lock first
(``roster.lock_org``), then reads what its rules need from the aggregates themselves
(the new manager's chain for a cycle, a team's parents), never from a lagging view.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

from trellis.core.errors import ConcurrencyError
from trellis.core.runtime.auth import Actor
from trellis.core.store.accepted import Accepted
from trellis.core.store.sessions import Sessions
from trellis.core.store.transaction import Transaction
from trellis.onboarding.application import roster
from trellis.onboarding.application.aggregates import Aggregates
from trellis.onboarding.application.plans import PlanCommands, PlanSpec, enrolments_of
from trellis.onboarding.domain.employee import Employee
from trellis.onboarding.domain.ids import checked_id, new_id
from trellis.onboarding.domain.permissions import ensure_may_change_org
from trellis.onboarding.domain.team import Team


class OrgCommands:
    def __init__(self, sessions: Sessions, aggregates: Aggregates, plans: PlanCommands) -> None:
        self.sessions = sessions
        self.aggregates = aggregates
        self.plans = plans

    # ---- employees -------------------------------------------------------------------

    async def hire(
        self,
        actor: Actor,
        correlation_id: str,
        *,
        employee_id: str | None,
        name: str,
        email: str,
        title: str = "",
        start_date: dt.date,
        team_id: str | None = None,
        manager_id: str | None = None,
        plan: PlanSpec | None = None,
    ) -> Accepted:
        """Hire someone (with the id their tokens carry, or a new one); optionally start their plan."""
        ensure_may_change_org(actor)
        employee_id = checked_id(employee_id, "employee id") if employee_id else new_id()
        tenant = actor.tenant_id
        async with self.sessions.transaction() as session:
            await roster.lock_org(session, tenant)
            manager = (
                await self.aggregates.employee(session, tenant, manager_id, what="manager")
                if manager_id
                else None
            )
            team = await self.aggregates.team(session, tenant, team_id) if team_id else None
            employee = await self.aggregates.find_employee(session, tenant, employee_id)
            employee = employee or self.aggregates.new_employee(tenant, employee_id)
            employee.hire(
                employee_id=employee_id,
                name=name,
                email=email,
                title=title,
                start_date=start_date,
                team=team,
                manager=manager,
            )
            await roster.reserve_email(session, tenant, employee.email, employee_id)
            await roster.set_manager(session, tenant, employee_id, employee.manager_id)
            result = await self._save_employee(session, actor, correlation_id, employee)
            if plan is None:
                return result
            started = await self.plans.start_for(session, actor, correlation_id, employee, plan)
            return Accepted(
                result.id,
                result.version,
                [*result.events, "OnboardingPlanStarted"],
                {"plan_id": started.id, **enrolments_of(started)},
            )

    async def change_manager(
        self,
        actor: Actor,
        correlation_id: str,
        employee_id: str,
        manager_id: str | None,
        expected_version: int | None = None,
    ) -> Accepted:
        async def decide(session: Transaction, employee: Employee) -> None:
            if manager_id is None:
                employee.change_manager(None, [])
            else:
                manager = await self.aggregates.employee(session, actor.tenant_id, manager_id, what="manager")
                employee.change_manager(manager, await self.aggregates.manager_chain(session, manager))
            if employee.pending:
                await roster.set_manager(session, actor.tenant_id, employee.employee_id, employee.manager_id)

        return await self._change_employee(actor, correlation_id, employee_id, expected_version, decide)

    async def change_team(
        self,
        actor: Actor,
        correlation_id: str,
        employee_id: str,
        team_id: str | None,
        expected_version: int | None = None,
    ) -> Accepted:
        async def decide(session: Transaction, employee: Employee) -> None:
            team = await self.aggregates.team(session, actor.tenant_id, team_id) if team_id else None
            employee.change_team(team)

        return await self._change_employee(actor, correlation_id, employee_id, expected_version, decide)

    async def change_title(
        self,
        actor: Actor,
        correlation_id: str,
        employee_id: str,
        title: str,
        expected_version: int | None = None,
    ) -> Accepted:
        async def decide(_session: Transaction, employee: Employee) -> None:
            employee.change_title(title)

        return await self._change_employee(actor, correlation_id, employee_id, expected_version, decide)

    async def offboard(
        self,
        actor: Actor,
        correlation_id: str,
        employee_id: str,
        last_day: dt.date,
        reason: str = "",
        expected_version: int | None = None,
    ) -> Accepted:
        async def decide(session: Transaction, employee: Employee) -> None:
            reports = await roster.reports_of(session, actor.tenant_id, employee.employee_id)
            employee.offboard(last_day, reason, reports)
            await roster.release_email(session, actor.tenant_id, employee.employee_id)
            await roster.set_manager(session, actor.tenant_id, employee.employee_id, None)

        return await self._change_employee(actor, correlation_id, employee_id, expected_version, decide)

    async def _change_employee(
        self,
        actor: Actor,
        correlation_id: str,
        employee_id: str,
        expected_version: int | None,
        decide: Callable[[Transaction, Employee], Awaitable[None]],
    ) -> Accepted:
        ensure_may_change_org(actor)
        async with self.sessions.transaction() as session:
            await roster.lock_org(session, actor.tenant_id)
            employee = await self.aggregates.employee(session, actor.tenant_id, employee_id)
            _check_version("employee", employee_id, employee.version, expected_version)
            await decide(session, employee)
            return await self._save_employee(session, actor, correlation_id, employee)

    async def _save_employee(
        self, session: Transaction, actor: Actor, correlation_id: str, employee: Employee
    ) -> Accepted:
        names = [e.event_type for e in employee.pending]
        await self.aggregates.employees.save(session, employee, actor.metadata(correlation_id))
        return Accepted(employee.employee_id, employee.version, names)

    # ---- teams -----------------------------------------------------------------------

    async def create_team(
        self,
        actor: Actor,
        correlation_id: str,
        *,
        name: str,
        parent_team_id: str | None = None,
        lead_id: str | None = None,
    ) -> Accepted:
        ensure_may_change_org(actor)
        tenant = actor.tenant_id
        async with self.sessions.transaction() as session:
            await roster.lock_org(session, tenant)
            parent = await self.aggregates.team(session, tenant, parent_team_id) if parent_team_id else None
            lead = await self.aggregates.employee(session, tenant, lead_id, what="lead") if lead_id else None
            team = self.aggregates.teams.new(new_id(), tenant)
            team.create(name=name, parent=parent, lead=lead)
            return await self._save_team(session, actor, correlation_id, team)

    async def rename_team(
        self, actor: Actor, correlation_id: str, team_id: str, name: str, expected_version: int | None = None
    ) -> Accepted:
        async def decide(_session: Transaction, team: Team) -> None:
            team.rename(name)

        return await self._change_team(actor, correlation_id, team_id, expected_version, decide)

    async def move_team(
        self,
        actor: Actor,
        correlation_id: str,
        team_id: str,
        parent_team_id: str | None,
        expected_version: int | None = None,
    ) -> Accepted:
        async def decide(session: Transaction, team: Team) -> None:
            if parent_team_id is None:
                team.move(None, [])
                return
            parent = await self.aggregates.team(session, actor.tenant_id, parent_team_id)
            team.move(parent, await self.aggregates.team_chain(session, parent))

        return await self._change_team(actor, correlation_id, team_id, expected_version, decide)

    async def assign_lead(
        self,
        actor: Actor,
        correlation_id: str,
        team_id: str,
        lead_id: str | None,
        expected_version: int | None = None,
    ) -> Accepted:
        async def decide(session: Transaction, team: Team) -> None:
            lead = (
                await self.aggregates.employee(session, actor.tenant_id, lead_id, what="lead")
                if lead_id
                else None
            )
            team.assign_lead(lead)

        return await self._change_team(actor, correlation_id, team_id, expected_version, decide)

    async def _change_team(
        self,
        actor: Actor,
        correlation_id: str,
        team_id: str,
        expected_version: int | None,
        decide: Callable[[Transaction, Team], Awaitable[None]],
    ) -> Accepted:
        ensure_may_change_org(actor)
        async with self.sessions.transaction() as session:
            await roster.lock_org(session, actor.tenant_id)
            team = await self.aggregates.team(session, actor.tenant_id, team_id)
            _check_version("team", team_id, team.version, expected_version)
            await decide(session, team)
            return await self._save_team(session, actor, correlation_id, team)

    async def _save_team(
        self, session: Transaction, actor: Actor, correlation_id: str, team: Team
    ) -> Accepted:
        names = [e.event_type for e in team.pending]
        await self.aggregates.teams.save(session, team, actor.metadata(correlation_id))
        return Accepted(team.id, team.version, names)


def _check_version(what: str, aggregate_id: str, actual: int, expected: int | None) -> None:
    if expected is not None and expected != actual:
        raise ConcurrencyError(
            f"{what} {aggregate_id} is at version {actual}, not {expected}",
            details={"expected_version": expected, "actual_version": actual},
        )
