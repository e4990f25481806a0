"""The tenants' thresholds of status by pace: read for every view and decision, set by admins."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import async_sessionmaker

from trellis.core.errors import Forbidden
from trellis.core.runtime.auth import Actor
from trellis.core.store.repository import Repository
from trellis.core.store.transaction import Transaction
from trellis.goals.domain.pace import Thresholds
from trellis.goals.domain.pace_policy import PacePolicy, pace_policy_id


@dataclass(frozen=True)
class InForce:
    thresholds: Thresholds
    set_by_tenant: bool  # False: the service's defaults
    version: int


class PacePolicies:
    def __init__(
        self, sessions: async_sessionmaker, policies: Repository[PacePolicy], defaults: Thresholds
    ) -> None:
        self.sessions = sessions
        self.policies = policies
        self.defaults = defaults

    async def in_force(self, session: Transaction, tenant_id: str) -> InForce:
        policy = await self.policies.find(session, pace_policy_id(tenant_id), tenant_id)
        if policy is None or policy.thresholds is None:
            return InForce(self.defaults, False, 0)
        return InForce(policy.thresholds, True, policy.version)

    async def thresholds(self, session: Transaction, tenant_id: str) -> Thresholds:
        return (await self.in_force(session, tenant_id)).thresholds

    async def set(
        self, actor: Actor, correlation_id: str, *, at_risk_below: float, off_track_below: float, grace: float
    ) -> InForce:
        if not actor.has_role("admin"):
            raise Forbidden("only an admin sets the tenant's pace thresholds")
        policy_id = pace_policy_id(actor.tenant_id)
        async with self.sessions() as session, session.begin():
            policy = await self.policies.find(session, policy_id, actor.tenant_id)
            policy = policy or self.policies.new(policy_id, actor.tenant_id)
            policy.set(at_risk_below, off_track_below, grace)
            if policy.pending:
                await self.policies.save(session, policy, actor.metadata(correlation_id))
            return await self.in_force(session, actor.tenant_id)
