"""Bearer tokens: HS256 for development, asymmetric keys for production, clear refusals."""

from __future__ import annotations

import datetime as dt

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from trellis.core.errors import Unauthenticated
from trellis.core.runtime.auth import TokenVerifier, mint_token

SECRET = "a-test-secret-that-is-long-enough-for-hs256"


def test_a_minted_token_gives_the_actor_tenant_and_roles() -> None:
    token = mint_token(secret=SECRET, tenant="acme", employee="e-1", roles=["manager"])
    actor = TokenVerifier(secret=SECRET).verify(token)
    assert actor.employee_id == "e-1"
    assert actor.tenant_id == "acme"
    assert actor.roles == frozenset({"manager"})
    metadata = actor.metadata("corr-1")
    assert (metadata.tenant_id, metadata.actor_id, metadata.correlation_id) == ("acme", "e-1", "corr-1")


def test_an_asymmetric_key_verifies_tokens_signed_by_the_identity_provider() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    now = dt.datetime.now(dt.UTC)
    claims = {"sub": "e-1", "tenant": "acme", "roles": ["hr"], "exp": now + dt.timedelta(minutes=5)}
    token = jwt.encode(claims, private, algorithm="ES256")
    verifier = TokenVerifier(public_key=public_pem)
    assert verifier.verify(token).roles == frozenset({"hr"})
    # an HS256 token made with the public key as secret (algorithm confusion) is refused
    forged = jwt.encode(claims, SECRET, algorithm="HS256")
    with pytest.raises(Unauthenticated):
        verifier.verify(forged)


@pytest.mark.parametrize(
    "claims, message",
    [
        ({"sub": "e-1", "tenant": "acme", "roles": ["employee"]}, "exp"),
        ({"tenant": "acme", "roles": ["employee"], "exp": 4102444800}, "sub"),
        ({"sub": "e-1", "roles": ["employee"], "exp": 4102444800}, "tenant"),
        ({"sub": "e-1", "tenant": "acme", "roles": ["god"], "exp": 4102444800}, "unknown roles"),
        ({"sub": "e-1", "tenant": "ac.me", "roles": [], "exp": 4102444800}, "tenant"),
        ({"sub": "e-1", "tenant": "acme", "roles": [], "exp": 1}, "expired"),
    ],
)
def test_tokens_missing_claims_or_expired_are_refused(claims: dict, message: str) -> None:
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    with pytest.raises(Unauthenticated, match=message):
        TokenVerifier(secret=SECRET).verify(token)


def test_a_token_signed_with_another_secret_is_refused() -> None:
    token = mint_token(secret="another-secret-entirely-and-long", tenant="a", employee="e", roles=[])
    with pytest.raises(Unauthenticated, match="invalid token"):
        TokenVerifier(secret=SECRET).verify(token)


def test_a_verified_token_is_remembered_until_it_expires_and_never_after() -> None:
    now = [1_000.0]
    verifier = TokenVerifier(secret=SECRET, clock=lambda: now[0], cache_size=2)
    token = jwt.encode({"sub": "e-1", "tenant": "acme", "roles": [], "exp": 1_060}, SECRET, algorithm="HS256")
    calls = []
    verify = verifier._verify
    verifier._verify = lambda t, key: calls.append(t) or verify(t, key)  # type: ignore[method-assign]
    # PyJWT checks ``exp`` against the real clock: this token expired long ago for it,
    # so the first verification is made under a clock of its own too
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jwt.api_jwt, "datetime", _frozen_at(1_000))
        assert verifier.verify(token).employee_id == "e-1"
        assert verifier.verify(token).employee_id == "e-1"
        assert len(calls) == 1  # the second answer came from the cache
        now[0] = 1_060.0  # the moment it expires, the cache no longer answers
        patch.setattr(jwt.api_jwt, "datetime", _frozen_at(1_061))
        with pytest.raises(Unauthenticated, match="expired"):
            verifier.verify(token)
    assert len(calls) == 2


def test_a_refused_token_is_not_remembered_and_the_cache_is_bounded() -> None:
    verifier = TokenVerifier(secret=SECRET, cache_size=2)
    forged = mint_token(secret="another-secret-entirely-and-long", tenant="a", employee="e", roles=[])
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            verifier.verify(forged)
    tokens = [mint_token(secret=SECRET, tenant="acme", employee=f"e-{i}", roles=[]) for i in range(3)]
    for token in tokens:
        verifier.verify(token)
    assert list(verifier._verified) == tokens[1:]


def _frozen_at(epoch: float) -> type[dt.datetime]:
    """PyJWT's ``datetime``, with ``now`` at a given epoch second."""

    class Frozen(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> Frozen:  # type: ignore[override]
            return cls.fromtimestamp(epoch, tz)

    return Frozen
