"""Who may create and change which goals. Reading is open to everyone in the tenant.

- admin and hr: everything;
- company objectives: admin and hr only;
- team goals: a manager who owns the goal or manages its owner;
- individual goals: the owner, and anyone who manages the owner.
"""

from __future__ import annotations

from trellis.core.auth import Actor
from trellis.core.errors import Forbidden
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


def ensure_may_create(actor: Actor, level: str, owner_id: str, manages_owner: bool) -> None:
    if not may_create(actor, level, owner_id, manages_owner):
        raise Forbidden(f"you may not create a {level} goal for {owner_id}")


def ensure_may_change(actor: Actor, goal: Goal, manages_owner: bool) -> None:
    if not may_change(actor, goal, manages_owner):
        raise Forbidden(f"you may not change goal {goal.id}")
