"""The Employee aggregate: hired, moved between managers, teams and titles, offboarded.

Rules that need other aggregates get them passed in, already loaded by the application
layer: the new manager (and the chain above them, for the cycle check), the team. A
command that would change nothing records nothing.
"""

from __future__ import annotations

import datetime as dt
import re

from trellis.contracts.envelope import DomainEvent
from trellis.contracts.onboarding import (
    EmployeeHired,
    EmployeeManagerChanged,
    EmployeeOffboarded,
    EmployeeOffboardingReasonRecorded,
    EmployeeTeamChanged,
    EmployeeTitleChanged,
)
from trellis.core.errors import InvalidInput, NotFound, RuleViolation
from trellis.core.store.aggregate import Aggregate
from trellis.onboarding.domain.org import Offboarded, TeamRef

# Deliberately loose: one @, something on both sides, a dot in the domain. The address
# is the HRIS's; this only catches obvious typing mistakes.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalised_email(email: str) -> str:
    """The form e-mail addresses are compared in (trimmed, lower case)."""
    value = email.strip().lower()
    if not _EMAIL.fullmatch(value) or len(value) > 320:
        raise InvalidInput(f"{email!r} is not an e-mail address")
    return value


class ManagerCycle(RuleViolation):
    """The change would make someone their own (indirect) manager."""

    code = "manager_cycle"


class Employee(Aggregate):
    aggregate_type = "employee"

    def __init__(self, aggregate_id: str, tenant_id: str) -> None:
        super().__init__(aggregate_id, tenant_id)
        self.employee_id = ""
        self.name = ""
        self.email = ""
        self.title = ""
        self.start_date: dt.date | None = None
        self.team_id: str | None = None
        self.manager_id: str | None = None
        self.last_day: dt.date | None = None

    # ---- state -----------------------------------------------------------------------

    @property
    def is_active(self) -> bool:
        return self.exists and self.last_day is None

    def apply(self, event: DomainEvent) -> None:
        match event:
            case EmployeeHired():
                self.employee_id = event.employee_id
                self.name = event.name
                self.email = event.email
                self.title = event.title
                self.start_date = event.start_date
                self.team_id = event.team_id
                self.manager_id = event.manager_id
            case EmployeeManagerChanged():
                self.manager_id = event.manager_id
            case EmployeeTeamChanged():
                self.team_id = event.team_id
            case EmployeeTitleChanged():
                self.title = event.title
            case EmployeeOffboarded():
                self.last_day = event.last_day
            case EmployeeOffboardingReasonRecorded():
                pass  # confidential: read from the history by admin and hr, never part of the state
            case _:
                raise TypeError(f"Employee cannot apply {type(event).__name__}")

    # ---- commands --------------------------------------------------------------------

    def hire(
        self,
        *,
        employee_id: str,
        name: str,
        email: str,
        title: str = "",
        start_date: dt.date,
        team: TeamRef | None = None,
        manager: Employee | None = None,
    ) -> None:
        if self.exists:
            raise RuleViolation(f"employee {employee_id} exists already")
        if not name.strip():
            raise InvalidInput("an employee needs a name")
        if manager is not None:
            if manager.employee_id == employee_id:
                raise ManagerCycle(f"{employee_id} cannot manage themself")
            self._check_manager(manager)
        if team is not None:
            self._check_team(team)
        self.record(
            EmployeeHired(
                employee_id=employee_id,
                name=name.strip(),
                email=normalised_email(email),
                title=title.strip(),
                start_date=start_date,
                team_id=team.id if team else None,
                manager_id=manager.employee_id if manager else None,
            )
        )

    def change_manager(self, manager: Employee | None, manager_chain: list[str]) -> None:
        """Report to ``manager`` (None: to nobody). ``manager_chain``: the managers above them."""
        self._require_active()
        new_id = manager.employee_id if manager else None
        if new_id == self.manager_id:
            return
        if manager is not None:
            if new_id == self.employee_id or self.employee_id in manager_chain:
                raise ManagerCycle(
                    f"{new_id} reports to {self.employee_id} (directly or not): "
                    f"{self.employee_id} cannot report to them",
                    details={"manager_id": new_id, "manager_chain": manager_chain},
                )
            self._check_manager(manager)
        self.record(
            EmployeeManagerChanged(
                employee_id=self.employee_id, manager_id=new_id, previous_manager_id=self.manager_id
            )
        )

    def change_team(self, team: TeamRef | None) -> None:
        self._require_active()
        new_id = team.id if team else None
        if new_id == self.team_id:
            return
        if team is not None:
            self._check_team(team)
        self.record(
            EmployeeTeamChanged(employee_id=self.employee_id, team_id=new_id, previous_team_id=self.team_id)
        )

    def change_title(self, title: str) -> None:
        self._require_active()
        title = title.strip()
        if title == self.title:
            return
        self.record(
            EmployeeTitleChanged(employee_id=self.employee_id, title=title, previous_title=self.title)
        )

    def offboard(self, last_day: dt.date, reason: str, reports: list[str]) -> None:
        """Leave on ``last_day``. Refused while anyone still reports to them: reassign first."""
        self._require_active()
        if reports:
            raise RuleViolation(
                f"{self.employee_id} still manages {', '.join(sorted(reports))}: "
                "give them another manager first",
                details={"reports": sorted(reports)},
            )
        if self.start_date is not None and last_day < self.start_date:
            raise InvalidInput("the last day cannot be before the start date")
        self.record(EmployeeOffboarded(employee_id=self.employee_id, last_day=last_day))
        if reason.strip():
            # private: the published event above reaches every service, the bus and webhooks
            self.record(
                EmployeeOffboardingReasonRecorded(employee_id=self.employee_id, reason=reason.strip())
            )

    # ---- rules -----------------------------------------------------------------------

    def _require_active(self) -> None:
        if not self.exists:
            raise NotFound("employee not found")
        if not self.is_active:
            raise Offboarded(f"{self.employee_id} has been offboarded: nothing about them changes")

    def _check_manager(self, manager: Employee) -> None:
        if manager.tenant_id != self.tenant_id or not manager.exists:
            raise NotFound(f"manager {manager.employee_id} not found")
        if not manager.is_active:
            raise Offboarded(f"{manager.employee_id} has been offboarded and manages nobody")

    def _check_team(self, team: TeamRef) -> None:
        if team.tenant_id != self.tenant_id or not team.exists:
            raise NotFound(f"team {team.id} not found")
