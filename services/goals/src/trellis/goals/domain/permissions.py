"""Who may create and change which goals. Reading is open to everyone in the tenant, except
a development goal: only its owner, their managers (any depth) and hr see it; to anyone
else (admins included) it does not exist (404), for reading and for changing.

- admin and hr: everything;
- company objectives: admin and hr only;
- team goals: a manager who owns the goal or manages its owner;
- individual goals: the owner, and anyone who manages the owner.

Handing a goal to a new owner is creating it for them: the actor must be allowed to
change the goal as it is and to create it for the new owner, so an employee cannot
hand their goal to a peer. The new owner must be someone the org chart knows and who
still works here.
"""

from __future__ import annotations

from trellis.core.errors import Forbidden, InvalidInput
from trellis.core.runtime.auth import Actor
from trellis.goals.domain.goal import Goal


def may_create(actor: Actor, level: str, owner_id: str, manages_owner: bool) -> bool:
    if actor.is_admin_or_hr:
        return True
    if level == "company":
        return False
    if level == "team":
        return actor.has_role("manager") and (owner_id == actor.employee_id or manages_owner)
    return owner_id == actor.employee_id or manages_owner


def may_change(actor: Actor, goal: Goal, manages_owner: bool) -> bool:
    return may_create(actor, goal.level, goal.owner_id, manages_owner)


def may_see(actor: Actor, kind: str, owner_id: str, manages_owner: bool) -> bool:
    """Whether ``actor`` may see a goal of ``kind`` owned by ``owner_id``."""
    if kind != "development":
        return True
    return owner_id == actor.employee_id or actor.has_role("hr") or manages_owner


def ensure_may_create(actor: Actor, level: str, owner_id: str, manages_owner: bool) -> None:
    if not may_create(actor, level, owner_id, manages_owner):
        raise Forbidden(f"you may not create a {level} goal for {owner_id}")


def ensure_may_change(actor: Actor, goal: Goal, manages_owner: bool) -> None:
    if not may_change(actor, goal, manages_owner):
        raise Forbidden(f"you may not change goal {goal.id}")


class UnknownOwner(InvalidInput):
    """The proposed owner is not an active employee in the org chart (422: the goal exists,
    the request names someone who does not)."""

    code = "unknown_owner"


def ensure_may_hand_over(actor: Actor, goal: Goal, new_owner_id: str, manages_new_owner: bool) -> None:
    if not may_create(actor, goal.level, new_owner_id, manages_new_owner):
        raise Forbidden(
            f"you may not hand goal {goal.id} to {new_owner_id}",
            details={"owner_id": new_owner_id},
        )
