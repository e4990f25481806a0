"""The OnboardingTemplate aggregate: a named list of milestones to start plans from.

Milestones are due a number of days after the new hire's start date (for example 30,
60 and 90), assigned to the new hire, their manager or their mentor, and may ask for a
first goal or name a training of the catalogue (the plan then enrols the new hire in
it). Revising a template changes the plans started afterwards, never the ones already
running; a retired template starts no more plans.
"""

from __future__ import annotations

from trellis.contracts.envelope import DomainEvent
from trellis.contracts.onboarding import (
    MilestoneTemplate,
    OnboardingTemplateCreated,
    OnboardingTemplateRetired,
    OnboardingTemplateRevised,
)
from trellis.core.errors import InvalidInput, NotFound, RuleViolation
from trellis.core.store.aggregate import Aggregate
from trellis.onboarding.domain.ids import checked_id

MAX_MILESTONES = 100


def checked_milestones(milestones: list[MilestoneTemplate]) -> list[MilestoneTemplate]:
    """Milestones as a template or an ad hoc plan may hold them: at least one, keys unique,
    a training named by one milestone at most (whether it exists is the application's check)."""
    if not milestones:
        raise InvalidInput("give at least one milestone")
    if len(milestones) > MAX_MILESTONES:
        raise InvalidInput(f"at most {MAX_MILESTONES} milestones")
    seen: set[str] = set()
    trainings: set[str] = set()
    out = []
    for m in milestones:
        checked_id(m.key, "milestone key")
        if m.key in seen:
            raise InvalidInput(f"milestone key {m.key!r} is used twice", details={"key": m.key})
        seen.add(m.key)
        if not m.title.strip():
            raise InvalidInput(f"milestone {m.key!r} needs a title")
        if m.goal is not None and not m.goal.title.strip():
            raise InvalidInput(f"the goal of milestone {m.key!r} needs a title")
        if m.training_id is not None:
            checked_id(m.training_id, "training id")
            if m.training_id in trainings:
                raise InvalidInput(
                    f"training {m.training_id} is named by two milestones",
                    details={"training_id": m.training_id},
                )
            trainings.add(m.training_id)
        out.append(m.model_copy(update={"title": m.title.strip()}))
    return sorted(out, key=lambda m: m.due_offset_days)


class OnboardingTemplate(Aggregate):
    aggregate_type = "onboarding_template"

    def __init__(self, aggregate_id: str, tenant_id: str) -> None:
        super().__init__(aggregate_id, tenant_id)
        self.name = ""
        self.milestones: list[MilestoneTemplate] = []
        self.retired = False

    def apply(self, event: DomainEvent) -> None:
        match event:
            case OnboardingTemplateCreated() | OnboardingTemplateRevised():
                self.name = event.name
                self.milestones = list(event.milestones)
            case OnboardingTemplateRetired():
                self.retired = True
            case _:
                raise TypeError(f"OnboardingTemplate cannot apply {type(event).__name__}")

    def create(self, name: str, milestones: list[MilestoneTemplate]) -> None:
        if self.exists:
            raise RuleViolation(f"template {self.id} exists already")
        self.record(
            OnboardingTemplateCreated(
                template_id=self.id, name=_name(name), milestones=checked_milestones(milestones)
            )
        )

    def revise(self, name: str, milestones: list[MilestoneTemplate]) -> None:
        self._require_live()
        name, milestones = _name(name), checked_milestones(milestones)
        if name == self.name and milestones == self.milestones:
            return
        self.record(OnboardingTemplateRevised(template_id=self.id, name=name, milestones=milestones))

    def retire(self) -> None:
        if not self.exists:
            raise NotFound(f"template {self.id} not found")
        if self.retired:
            return
        self.record(OnboardingTemplateRetired(template_id=self.id))

    def milestones_to_start(self) -> list[MilestoneTemplate]:
        """The milestones a plan started from this template gets."""
        self._require_live()
        return list(self.milestones)

    def _require_live(self) -> None:
        if not self.exists:
            raise NotFound(f"template {self.id} not found")
        if self.retired:
            raise RuleViolation(f"template {self.name!r} is retired")


def _name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput("a template needs a name")
    return name
