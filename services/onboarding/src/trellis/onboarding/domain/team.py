"""The Team aggregate: created (under a parent, with a lead), renamed, moved, lead assigned."""

from __future__ import annotations

from trellis.contracts.envelope import DomainEvent
from trellis.contracts.onboarding import TeamCreated, TeamLeadAssigned, TeamMoved, TeamRenamed
from trellis.core.errors import InvalidInput, NotFound, RuleViolation
from trellis.core.store.aggregate import Aggregate
from trellis.onboarding.domain.org import EmployeeRef, Offboarded


class TeamCycle(RuleViolation):
    """The move would put a team inside itself."""

    code = "team_cycle"


class Team(Aggregate):
    aggregate_type = "team"

    def __init__(self, aggregate_id: str, tenant_id: str) -> None:
        super().__init__(aggregate_id, tenant_id)
        self.name = ""
        self.parent_team_id: str | None = None
        self.lead_id: str | None = None

    def apply(self, event: DomainEvent) -> None:
        match event:
            case TeamCreated():
                self.name = event.name
                self.parent_team_id = event.parent_team_id
                self.lead_id = event.lead_id
            case TeamRenamed():
                self.name = event.name
            case TeamMoved():
                self.parent_team_id = event.parent_team_id
            case TeamLeadAssigned():
                self.lead_id = event.lead_id
            case _:
                raise TypeError(f"Team cannot apply {type(event).__name__}")

    def create(self, *, name: str, parent: Team | None = None, lead: EmployeeRef | None = None) -> None:
        if self.exists:
            raise RuleViolation(f"team {self.id} exists already")
        name = _name(name)
        if parent is not None:
            self._check_parent(parent, [])
        if lead is not None:
            self._check_lead(lead)
        self.record(
            TeamCreated(
                team_id=self.id,
                name=name,
                parent_team_id=parent.id if parent else None,
                lead_id=lead.employee_id if lead else None,
            )
        )

    def rename(self, name: str) -> None:
        self._require_exists()
        name = _name(name)
        if name == self.name:
            return
        self.record(TeamRenamed(team_id=self.id, name=name, previous_name=self.name))

    def move(self, parent: Team | None, parent_chain: list[str]) -> None:
        """Put the team under ``parent`` (None: at the top). ``parent_chain``: the teams above it."""
        self._require_exists()
        new_id = parent.id if parent else None
        if new_id == self.parent_team_id:
            return
        if parent is not None:
            self._check_parent(parent, parent_chain)
        self.record(
            TeamMoved(team_id=self.id, parent_team_id=new_id, previous_parent_team_id=self.parent_team_id)
        )

    def assign_lead(self, lead: EmployeeRef | None) -> None:
        self._require_exists()
        new_id = lead.employee_id if lead else None
        if new_id == self.lead_id:
            return
        if lead is not None:
            self._check_lead(lead)
        self.record(TeamLeadAssigned(team_id=self.id, lead_id=new_id, previous_lead_id=self.lead_id))

    def _require_exists(self) -> None:
        if not self.exists:
            raise NotFound(f"team {self.id} not found")

    def _check_parent(self, parent: Team, parent_chain: list[str]) -> None:
        if parent.tenant_id != self.tenant_id or not parent.exists:
            raise NotFound(f"team {parent.id} not found")
        if parent.id == self.id or self.id in parent_chain:
            raise TeamCycle(
                f"team {parent.id} is inside team {self.id}: moving it there would make a cycle",
                details={"parent_team_id": parent.id, "parent_chain": parent_chain},
            )

    def _check_lead(self, lead: EmployeeRef) -> None:
        if lead.tenant_id != self.tenant_id or not lead.exists:
            raise NotFound(f"employee {lead.employee_id} not found")
        if not lead.is_active:
            raise Offboarded(f"{lead.employee_id} has been offboarded and cannot lead a team")


def _name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput("a team needs a name")
    return name
