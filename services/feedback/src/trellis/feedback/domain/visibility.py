"""Who may read a feedback: decided by its visibility, set by the giver, never changed.

- ``private``: the recipient; and the giver, unless the feedback is anonymous (then no one
  knows who the giver is, the giver included: the service cannot tell them apart);
- ``manager``: the same, plus everyone in the recipient's manager chain *as it is when
  read* (the direct manager, their manager, and so on up; indirect managers included). A
  new manager therefore reads what was shared with the manager line before they came; a
  former manager no longer does;
- ``public``: everyone in the tenant.

Roles give no extra reading rights: an ``hr`` or ``admin`` reads exactly what the rules
above let them read as a person (they see counts in the KPIs, never content). Another
tenant's feedback does not exist for the reader (404).

This module is the rule; ``trellis.feedback.views.feedback_queries.readable`` is the same
rule as one SQL condition for the list read paths. Both are tested from every viewer role.
"""

from __future__ import annotations


def may_read(
    *,
    viewer_id: str,
    recipient_id: str,
    giver_id: str | None,
    visibility: str,
    viewer_manages_recipient: bool,
) -> bool:
    """Whether ``viewer_id`` may read the feedback (its existence, its metadata and its body)."""
    if viewer_id == recipient_id:
        return True
    if giver_id is not None and viewer_id == giver_id:
        return True
    if visibility == "public":
        return True
    return visibility == "manager" and viewer_manages_recipient
