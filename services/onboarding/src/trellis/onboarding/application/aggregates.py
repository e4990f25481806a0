"""The service's aggregates, loaded by their domain ids within the caller's tenant.

Another tenant's employee, team, template, plan, training, enrolment or mentorship is
never found (404), whatever its id.
"""

from __future__ import annotations

from trellis.core.errors import NotFound
from trellis.core.store.event_store import EventStore
from trellis.core.store.repository import Repository
from trellis.core.store.transaction import Transaction
from trellis.onboarding.domain.employee import Employee
from trellis.onboarding.domain.enrolment import Enrolment
from trellis.onboarding.domain.ids import employee_stream_id, plan_id_of
from trellis.onboarding.domain.mentorship import Mentorship
from trellis.onboarding.domain.plan import OnboardingPlan
from trellis.onboarding.domain.team import Team
from trellis.onboarding.domain.template import OnboardingTemplate
from trellis.onboarding.domain.training import Training

# Guards walks up a chain against corrupt data; no real org is this deep.
MAX_CHAIN = 256


class Aggregates:
    def __init__(self, store: EventStore) -> None:
        self.employees = Repository(store, Employee)
        self.teams = Repository(store, Team)
        self.templates = Repository(store, OnboardingTemplate)
        self.plans = Repository(store, OnboardingPlan)
        self.trainings = Repository(store, Training)
        self.enrolments = Repository(store, Enrolment)
        self.mentorships = Repository(store, Mentorship)

    # ---- employees -------------------------------------------------------------------

    def new_employee(self, tenant_id: str, employee_id: str) -> Employee:
        return self.employees.new(employee_stream_id(tenant_id, employee_id), tenant_id)

    async def find_employee(self, session: Transaction, tenant_id: str, employee_id: str) -> Employee | None:
        return await self.employees.find(session, employee_stream_id(tenant_id, employee_id), tenant_id)

    async def employee(
        self, session: Transaction, tenant_id: str, employee_id: str, *, what: str = "employee"
    ) -> Employee:
        found = await self.find_employee(session, tenant_id, employee_id)
        if found is None:
            raise NotFound(f"{what} {employee_id} not found", details={f"{what}_id": employee_id})
        return found

    async def manager_chain(self, session: Transaction, employee: Employee) -> list[str]:
        """The managers above ``employee``, nearest first, from the (consistent) aggregates."""
        chain: list[str] = []
        current = employee
        while current.manager_id and current.manager_id not in chain and len(chain) < MAX_CHAIN:
            chain.append(current.manager_id)
            found = await self.find_employee(session, employee.tenant_id, current.manager_id)
            if found is None:
                break
            current = found
        return chain

    # ---- teams -----------------------------------------------------------------------

    async def team(self, session: Transaction, tenant_id: str, team_id: str) -> Team:
        found = await self.teams.find(session, team_id, tenant_id)
        if found is None:
            raise NotFound(f"team {team_id} not found", details={"team_id": team_id})
        return found

    async def team_chain(self, session: Transaction, team: Team) -> list[str]:
        """The teams above ``team``, nearest first."""
        chain: list[str] = []
        current = team
        while current.parent_team_id and current.parent_team_id not in chain and len(chain) < MAX_CHAIN:
            chain.append(current.parent_team_id)
            found = await self.teams.find(session, current.parent_team_id, team.tenant_id)
            if found is None:
                break
            current = found
        return chain

    # ---- templates and plans ---------------------------------------------------------

    async def template(self, session: Transaction, tenant_id: str, template_id: str) -> OnboardingTemplate:
        found = await self.templates.find(session, template_id, tenant_id)
        if found is None:
            raise NotFound(f"template {template_id} not found", details={"template_id": template_id})
        return found

    async def plan(self, session: Transaction, tenant_id: str, plan_id: str) -> OnboardingPlan:
        found = await self.plans.find(session, plan_id, tenant_id)
        if found is None:
            raise NotFound(f"onboarding plan {plan_id} not found", details={"plan_id": plan_id})
        return found

    async def plan_of(self, session: Transaction, tenant_id: str, employee_id: str) -> OnboardingPlan:
        """The employee's plan, or a new (not yet started) one with its derived id."""
        plan_id = plan_id_of(tenant_id, employee_id)
        found = await self.plans.find(session, plan_id, tenant_id)
        return found if found is not None else self.plans.new(plan_id, tenant_id)

    # ---- development -----------------------------------------------------------------

    async def training(self, session: Transaction, tenant_id: str, training_id: str) -> Training:
        found = await self.trainings.find(session, training_id, tenant_id)
        if found is None:
            raise NotFound(f"training {training_id} not found", details={"training_id": training_id})
        return found

    async def enrolment(self, session: Transaction, tenant_id: str, enrolment_id: str) -> Enrolment:
        found = await self.enrolments.find(session, enrolment_id, tenant_id)
        if found is None:
            raise NotFound(f"enrolment {enrolment_id} not found", details={"enrolment_id": enrolment_id})
        return found

    async def mentorship(self, session: Transaction, tenant_id: str, mentorship_id: str) -> Mentorship:
        found = await self.mentorships.find(session, mentorship_id, tenant_id)
        if found is None:
            raise NotFound(f"mentorship {mentorship_id} not found", details={"mentorship_id": mentorship_id})
        return found

    async def chain_of(self, session: Transaction, tenant_id: str, employee_id: str) -> list[str]:
        """``employee_id``'s managers, nearest first (none for someone unknown)."""
        employee = await self.find_employee(session, tenant_id, employee_id)
        return await self.manager_chain(session, employee) if employee is not None else []
