"""Who may do what in the onboarding service. Reading is open to everyone in the tenant.

- the org (employees, teams) and templates: admin and hr only;
- starting a plan, rescheduling its milestones, choosing its mentor: admin, hr, and the
  new hire's (current, direct) manager;
- completing a milestone: the person it is assigned to (the new hire, their current
  manager, or the plan's mentor), and admin or hr.
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
