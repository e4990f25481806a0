"""Who may do what in the onboarding service. Reading is open to everyone in the tenant.

- the org (employees, teams) and templates: admin and hr only;
- starting a plan, rescheduling its milestones, choosing its mentor: admin, hr, and the
  new hire's (current, direct) manager;
- completing a milestone: the person it is assigned to (the new hire, their current
  manager, or the plan's mentor), and admin or hr.

People's development is not open to the tenant:

- the training catalogue: everyone reads it; admin and hr keep it;
- an enrolment: the person, anyone above them in the reporting line (any depth) and
  admin or hr enrol them, complete and withdraw it, and read it; to anyone else it does
  not exist (404);
- a mentorship: admin, hr and anyone above the mentee arrange it; the pair, anyone above
  the mentee, admin and hr read it and end it early; to anyone else it does not exist.

The manager chain these take is the aggregates' (consistent), walked by the application.
"""

from __future__ import annotations

from trellis.core.errors import Forbidden
from trellis.core.runtime.auth import Actor
from trellis.onboarding.domain.plan import Milestone


def ensure_may_change_org(actor: Actor) -> None:
    if not actor.is_admin_or_hr:
        raise Forbidden("only admin and hr change the org")


def ensure_may_manage_templates(actor: Actor) -> None:
    if not actor.is_admin_or_hr:
        raise Forbidden("only admin and hr manage onboarding templates")


def ensure_may_manage_plan(actor: Actor, manager_id: str | None) -> None:
    if actor.is_admin_or_hr or (manager_id is not None and actor.employee_id == manager_id):
        return
    raise Forbidden("only admin, hr and the new hire's manager manage an onboarding plan")


def responsible_for(
    milestone: Milestone, *, employee_id: str, manager_id: str | None, mentor_id: str | None
) -> str | None:
    """Who completes ``milestone``: the new hire, their manager or their mentor (None: nobody yet)."""
    return {"new_hire": employee_id, "manager": manager_id, "mentor": mentor_id}.get(milestone.assignee)


def ensure_may_complete(
    actor: Actor, milestone: Milestone, *, employee_id: str, manager_id: str | None, mentor_id: str | None
) -> None:
    if actor.is_admin_or_hr:
        return
    who = responsible_for(milestone, employee_id=employee_id, manager_id=manager_id, mentor_id=mentor_id)
    if who is None or actor.employee_id != who:
        raise Forbidden(
            f"milestone {milestone.milestone_id} is for the {milestone.assignee.replace('_', ' ')} "
            "to complete"
        )


def oversees(actor: Actor, employee_id: str, manager_chain: list[str]) -> bool:
    """The person themself, anyone above them (``manager_chain``), admin and hr."""
    return actor.is_admin_or_hr or actor.employee_id == employee_id or actor.employee_id in manager_chain


def ensure_may_manage_catalogue(actor: Actor) -> None:
    if not actor.is_admin_or_hr:
        raise Forbidden("only admin and hr keep the training catalogue")


def ensure_may_enrol(actor: Actor, employee_id: str, manager_chain: list[str]) -> None:
    if not oversees(actor, employee_id, manager_chain):
        raise Forbidden(f"only {employee_id}, their managers, admin and hr enrol them in a training")


def ensure_may_arrange_mentorship(actor: Actor, mentee_chain: list[str]) -> None:
    if not (actor.is_admin_or_hr or actor.employee_id in mentee_chain):
        raise Forbidden("only admin, hr and the mentee's managers arrange a mentorship")


def may_read_mentorship(actor: Actor, mentor_id: str, mentee_id: str, mentee_chain: list[str]) -> bool:
    return actor.employee_id == mentor_id or oversees(actor, mentee_id, mentee_chain)
