"""Bearer-token authentication: who the actor is, in which tenant, with which roles.

Tokens are JWTs. Development and the embedded run use HS256 with a shared secret;
production configures a public key (RS256, ES256 or EdDSA) so services can verify
but never mint. Claims: ``sub`` (employee id), ``tenant``, ``roles`` (any of admin,
hr, manager, employee) and ``exp``. Who manages whom is not a claim: each service
learns it from the onboarding service's events (``trellis.orgchart``).
"""

from __future__ import annotations

import datetime as dt
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from trellis.core.errors import Unauthenticated
from trellis.core.store.events import Metadata
from trellis.core.store.subjects import check_token

ROLES = frozenset({"admin", "hr", "manager", "employee"})
MAX_CLAIM_LENGTH = 64  # a tenant or employee id, as everywhere else


@dataclass(frozen=True)
class Actor:
    """The authenticated caller."""

    employee_id: str
    tenant_id: str
    roles: frozenset[str]

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def is_admin_or_hr(self) -> bool:
        return self.has_role("admin", "hr")

    def metadata(self, correlation_id: str | None = None, causation_id: str | None = None) -> Metadata:
        extra = {"correlation_id": correlation_id} if correlation_id else {}
        return Metadata(
            tenant_id=self.tenant_id,
            actor_id=self.employee_id,
            causation_id=causation_id,
            **extra,
        )


class TokenVerifier:
    """Verifies bearer tokens; a verified token is remembered until it expires.

    A client sends the same token with every request until it expires, and checking its
    signature is the dearest step of a request (an RSA or EdDSA verification, or an HMAC
    and the claims' checks). The cache is keyed by the whole token, signature included,
    so only a token that verified is ever answered from it, and never past its ``exp``.
    Tokens that fail are not remembered (each costs a verification, as before). The
    cache holds at most ``cache_size`` tokens, the least recently used leaving first.
    """

    def __init__(
        self,
        *,
        secret: str | None = None,
        public_key: str | None = None,
        algorithms: list[str] | None = None,
        audience: str | None = None,
        issuer: str | None = None,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret and not public_key:
            raise ValueError("a JWT secret or public key is required")
        self.key: str = public_key or secret or ""
        self.algorithms = algorithms or (["RS256", "ES256", "EdDSA"] if public_key else ["HS256"])
        self.audience = audience
        self.issuer = issuer
        self.cache_size = cache_size
        self.clock = clock
        self._verified: OrderedDict[str, tuple[Actor, float]] = OrderedDict()

    def verify(self, token: str) -> Actor:
        known = self._verified.get(token)
        if known is not None:
            actor, expires = known
            if self.clock() < expires:
                self._verified.move_to_end(token)
                return actor
            del self._verified[token]
        actor, expires = self._verify(token)
        if self.cache_size > 0:
            self._verified[token] = (actor, expires)
            if len(self._verified) > self.cache_size:
                self._verified.popitem(last=False)
        return actor

    def _verify(self, token: str) -> tuple[Actor, float]:
        try:
            claims = jwt.decode(
                token,
                self.key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["sub", "exp"], "verify_aud": self.audience is not None},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("token expired") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(f"invalid token: {exc}") from exc
        return actor_from_claims(claims), float(claims["exp"])


def actor_from_claims(claims: dict[str, Any]) -> Actor:
    tenant = claims.get("tenant")
    subject = claims.get("sub")
    roles = claims.get("roles", [])
    if not isinstance(tenant, str) or not isinstance(subject, str) or not isinstance(roles, list):
        raise Unauthenticated("token lacks a tenant, a subject or a roles list")
    if not 0 < len(tenant) <= MAX_CLAIM_LENGTH or not 0 < len(subject) <= MAX_CLAIM_LENGTH:
        raise Unauthenticated(f"the tenant and the subject take 1 to {MAX_CLAIM_LENGTH} characters")
    try:
        check_token(tenant, "tenant")
        check_token(subject, "employee id")
    except ValueError as exc:
        raise Unauthenticated(str(exc)) from exc
    unknown = set(roles) - ROLES
    if unknown:
        raise Unauthenticated(f"unknown roles {sorted(unknown)}")
    return Actor(employee_id=subject, tenant_id=tenant, roles=frozenset(roles))


def mint_token(
    *,
    secret: str,
    tenant: str,
    employee: str,
    roles: list[str],
    ttl: dt.timedelta = dt.timedelta(hours=12),
    algorithm: str = "HS256",
) -> str:
    """A signed token for development and tests (production tokens come from the IdP)."""
    now = dt.datetime.now(dt.UTC)
    claims: dict[str, Any] = {
        "sub": employee,
        "tenant": tenant,
        "roles": roles,
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, secret, algorithm=algorithm)
