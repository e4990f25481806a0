"""Bearer-token authentication: who the actor is, in which tenant, with which roles.

Tokens are JWTs. Development and the embedded run use HS256 with a shared secret;
production configures a public key (RS256, ES256 or EdDSA) so services can verify
but never mint, or the identity provider's JWKS URL (``JwksKeys``): its keys are
fetched and refreshed as it rotates them, each token verified with the key its ``kid``
names. Claims: ``sub`` (employee id), ``tenant``, ``roles`` (any of admin,
hr, manager, employee) and ``exp``. Who manages whom is not a claim: each service
learns it from the onboarding service's events (``trellis.orgchart``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import structlog

from trellis.contracts.envelope import Metadata
from trellis.contracts.subjects import check_token
from trellis.core.errors import Unauthenticated
from trellis.core.runtime.settings import ServiceSettings

log = structlog.get_logger("trellis.auth")

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


class JwksKeys:
    """The identity provider's signing keys, from its JWKS URL, by key id (``kid``).

    Fetched on first use and again once ``max_age`` old; a token naming a ``kid`` not
    known yet (the provider rotated its keys) makes one fetch, at most one every
    ``min_refresh`` seconds, so tokens with made-up key ids cannot make the service
    hammer the provider. A failed fetch keeps the keys known so far (and is logged).
    Fetches run on a worker thread, one at a time.
    """

    def __init__(
        self,
        url: str,
        *,
        max_age: float = 600.0,
        min_refresh: float = 30.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.max_age = max_age
        self.min_refresh = min_refresh
        self.clock = clock
        self._client = jwt.PyJWKClient(url, cache_keys=False, cache_jwk_set=False, timeout=int(timeout))
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    def known(self, kid: str) -> jwt.PyJWK | None:
        """The key, if it is known already (no fetch)."""
        return self._keys.get(kid)

    async def key(self, kid: str) -> jwt.PyJWK | None:
        """The key named ``kid``, fetching the key set when it is old or lacks it."""
        if self._stale() or (kid not in self._keys and self._may_refresh()):
            async with self._lock:
                if self._stale() or (kid not in self._keys and self._may_refresh()):
                    await self._fetch()
        return self._keys.get(kid)

    def _stale(self) -> bool:
        return self._fetched_at is None or self.clock() - self._fetched_at >= self.max_age

    def _may_refresh(self) -> bool:
        return self._fetched_at is None or self.clock() - self._fetched_at >= self.min_refresh

    async def _fetch(self) -> None:
        self.fetches += 1
        self._fetched_at = self.clock()  # a failure waits as long as a success before the next try
        try:
            found = await asyncio.to_thread(self._client.get_jwk_set, True)
        except jwt.PyJWKClientError as exc:
            log.warning("auth.jwks_fetch_failed", url=self.url, error=str(exc))
            return
        self._keys = {
            key.key_id: key for key in found.keys if key.key_id and key.public_key_use in (None, "sig")
        }
        log.info("auth.jwks_fetched", url=self.url, keys=sorted(self._keys))


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
        jwks: JwksKeys | None = None,
    ) -> None:
        if not secret and not public_key and jwks is None:
            raise ValueError("a JWT secret, a public key or a JWKS URL is required")
        self.key: str = public_key or secret or ""
        self.jwks = jwks
        asymmetric = public_key or jwks is not None
        self.algorithms = algorithms or (["RS256", "ES256", "EdDSA"] if asymmetric else ["HS256"])
        self.audience = audience
        self.issuer = issuer
        self.cache_size = cache_size
        self.clock = clock
        self._verified: OrderedDict[str, tuple[Actor, float]] = OrderedDict()

    def verify(self, token: str) -> Actor:
        """The actor of ``token``; with a JWKS, only keys already fetched are used (see
        ``verify_fetching``, which the requests' authentication uses)."""
        actor = self._remembered(token)
        if actor is not None:
            return actor
        key: Any = self.key
        if self.jwks is not None:
            key = self.jwks.known(_kid_of(token))
            if key is None:
                raise Unauthenticated("the token's signing key is not known")
        return self._remember(token, *self._verify(token, key))

    async def verify_fetching(self, token: str) -> Actor:
        """The actor of ``token``, fetching the identity provider's keys if need be."""
        if self.jwks is None:
            return self.verify(token)
        actor = self._remembered(token)
        if actor is not None:
            return actor
        key = await self.jwks.key(_kid_of(token))
        if key is None:
            raise Unauthenticated("the token's signing key is not one the identity provider publishes")
        return self._remember(token, *self._verify(token, key))

    def _remembered(self, token: str) -> Actor | None:
        known = self._verified.get(token)
        if known is None:
            return None
        actor, expires = known
        if self.clock() < expires:
            self._verified.move_to_end(token)
            return actor
        del self._verified[token]
        return None

    def _remember(self, token: str, actor: Actor, expires: float) -> Actor:
        if self.cache_size > 0:
            self._verified[token] = (actor, expires)
            if len(self._verified) > self.cache_size:
                self._verified.popitem(last=False)
        return actor

    def _verify(self, token: str, key: Any) -> tuple[Actor, float]:
        try:
            claims = jwt.decode(
                token,
                key,
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


def verifier_for(settings: ServiceSettings) -> TokenVerifier:
    """The token verifier a service's settings describe."""
    jwks = (
        JwksKeys(settings.jwt_jwks_url, max_age=settings.jwt_jwks_max_age) if settings.jwt_jwks_url else None
    )
    return TokenVerifier(
        secret=None if jwks else settings.jwt_secret,
        public_key=settings.jwt_public_key,
        algorithms=settings.jwt_algorithms,
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
        jwks=jwks,
    )


def _kid_of(token: str) -> str:
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.InvalidTokenError as exc:
        raise Unauthenticated(f"invalid token: {exc}") from exc
    if not isinstance(kid, str) or not kid:
        raise Unauthenticated("the token names no signing key (kid)")
    return kid


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
