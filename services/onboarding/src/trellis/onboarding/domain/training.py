"""The Training aggregate: one entry of the tenant's training catalogue.

A training is a course, a workshop, a mentorship programme or an external link, with a
title, a description, an optional http(s) address, the skills it builds (short tags,
compared in lower case) and the effort it is expected to take. Admin and hr create,
change and retire trainings; a retired one enrols nobody (``RetiredTraining``), but the
enrolments already open stay open and can be completed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from trellis.contracts.envelope import DomainEvent
from trellis.contracts.onboarding import TrainingChanged, TrainingCreated, TrainingKind, TrainingRetired
from trellis.core.errors import InvalidInput, NotFound, RuleViolation
from trellis.core.store.aggregate import Aggregate

MAX_TITLE = 300
MAX_DESCRIPTION = 10_000
MAX_URL = 2_000
MAX_SKILLS = 20
MAX_SKILL = 40
MAX_DURATION_MINUTES = 365 * 24 * 60

# a tag: starts with a letter or digit; then letters, digits and a few signs ("c++", "node.js")
_SKILL = re.compile(rf"^[^\W_][\w +#./-]{{0,{MAX_SKILL - 1}}}$")


class InvalidUrl(InvalidInput):
    """An address that is not an absolute http(s) URL."""

    code = "invalid_url"


class RetiredTraining(RuleViolation):
    """The training was retired: it changes no more and enrols nobody."""

    code = "training_retired"


def checked_url(value: str | None, what: str = "url") -> str | None:
    """``value`` as an absolute http(s) URL with a host (None or blank: none)."""
    if value is None or not value.strip():
        return None
    url = value.strip()
    problem = None
    if len(url) > MAX_URL:
        problem = f"at most {MAX_URL} characters"
    elif any(c.isspace() or not c.isprintable() for c in url):
        problem = "no spaces or control characters"
    else:
        try:
            parts = urlsplit(url)
            host = parts.hostname
        except ValueError:
            parts, host = None, None
        if parts is None or parts.scheme.lower() not in ("http", "https"):
            problem = "an http or https address"
        elif not host:
            problem = "an address with a host"
    if problem:
        raise InvalidUrl(f"{what} must be {problem}", details={"field": what, "value": url[:200]})
    return url


def checked_text(value: str, what: str, limit: int, *, required: bool = False) -> str:
    text = value.strip()
    if required and not text:
        raise InvalidInput(f"{what} must not be empty", details={"field": what})
    if len(text) > limit:
        raise InvalidInput(f"{what} has at most {limit} characters", details={"field": what, "limit": limit})
    return text


def checked_skills(skills: list[str]) -> list[str]:
    """Tags trimmed, in lower case, spaces collapsed, each once, in the order given."""
    out: list[str] = []
    for raw in skills:
        tag = " ".join(raw.split()).lower()
        if not _SKILL.fullmatch(tag):
            raise InvalidInput(
                f"a skill is a short tag (1 to {MAX_SKILL} letters, digits, spaces and + # . / - _)",
                details={"field": "skills", "value": raw[:100]},
            )
        if tag not in out:
            out.append(tag)
    if len(out) > MAX_SKILLS:
        raise InvalidInput(f"at most {MAX_SKILLS} skills", details={"field": "skills"})
    return out


@dataclass(frozen=True)
class TrainingDetails:
    """What a training is: everything an admin writes when creating or changing one."""

    kind: TrainingKind
    title: str
    description: str = ""
    url: str | None = None
    skills: tuple[str, ...] = ()
    duration_minutes: int | None = None

    def checked(self) -> TrainingDetails:
        url = checked_url(self.url)
        if self.kind == "external_link" and url is None:
            raise InvalidUrl("an external link needs its url", details={"field": "url"})
        duration = self.duration_minutes
        if duration is not None and not 1 <= duration <= MAX_DURATION_MINUTES:
            raise InvalidInput(
                f"duration_minutes is 1 to {MAX_DURATION_MINUTES}", details={"field": "duration_minutes"}
            )
        return TrainingDetails(
            kind=self.kind,
            title=checked_text(self.title, "title", MAX_TITLE, required=True),
            description=checked_text(self.description, "description", MAX_DESCRIPTION),
            url=url,
            skills=tuple(checked_skills(list(self.skills))),
            duration_minutes=duration,
        )


class Training(Aggregate):
    aggregate_type = "training"

    def __init__(self, aggregate_id: str, tenant_id: str) -> None:
        super().__init__(aggregate_id, tenant_id)
        self.details = TrainingDetails(kind="course", title="")
        self.retired = False

    @property
    def title(self) -> str:
        return self.details.title

    def apply(self, event: DomainEvent) -> None:
        match event:
            case TrainingCreated() | TrainingChanged():
                self.details = TrainingDetails(
                    kind=event.kind,
                    title=event.title,
                    description=event.description,
                    url=event.url,
                    skills=tuple(event.skills),
                    duration_minutes=event.duration_minutes,
                )
            case TrainingRetired():
                self.retired = True
            case _:
                raise TypeError(f"Training cannot apply {type(event).__name__}")

    def create(self, details: TrainingDetails) -> None:
        if self.exists:
            raise RuleViolation(f"training {self.id} exists already")
        self.record(self._written(TrainingCreated, details.checked()))

    def change(self, details: TrainingDetails) -> None:
        """Replace what the training is (the same again: nothing)."""
        self.require_live()
        checked = details.checked()
        if checked == self.details:
            return
        self.record(self._written(TrainingChanged, checked))

    def retire(self) -> None:
        self._require_exists()
        if self.retired:
            return
        self.record(TrainingRetired(training_id=self.id))

    def require_live(self) -> None:
        """Refuse anything new with a retired training (a change, an enrolment)."""
        self._require_exists()
        if self.retired:
            raise RetiredTraining(f"training {self.title!r} is retired", details={"training_id": self.id})

    def _written(
        self, cls: type[TrainingCreated] | type[TrainingChanged], details: TrainingDetails
    ) -> TrainingCreated | TrainingChanged:
        return cls(
            training_id=self.id,
            kind=details.kind,
            title=details.title,
            description=details.description,
            url=details.url,
            skills=list(details.skills),
            duration_minutes=details.duration_minutes,
        )

    def _require_exists(self) -> None:
        if not self.exists:
            raise NotFound(f"training {self.id} not found", details={"training_id": self.id})
