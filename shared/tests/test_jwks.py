"""Tokens verified with the identity provider's rotating keys, fetched from its JWKS URL."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI

from trellis.core.errors import Unauthenticated
from trellis.core.runtime.auth import JwksKeys, TokenVerifier, verifier_for
from trellis.core.runtime.http import CurrentActor, install_error_handlers
from trellis.core.runtime.settings import ServiceSettings

ISSUER = "https://idp.example"
AUDIENCE = "trellis"


class Provider:
    """A local identity provider: serves a JWKS of the keys it holds now; rotates on demand."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.requests = 0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.requests += 1
                body = json.dumps({"keys": [provider.jwk(kid) for kid in provider.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def rotate_in(self, kid: str, algorithm: str = "RS256") -> None:
        key: Any = (
            rsa.generate_private_key(65537, 2048)
            if algorithm == "RS256"
            else ec.generate_private_key(ec.SECP256R1())
        )
        self.keys[kid] = (key, algorithm)

    def jwk(self, kid: str) -> dict[str, Any]:
        key, algorithm = self.keys[kid]
        algo = jwt.get_algorithm_by_name(algorithm)
        found: dict[str, Any] = json.loads(algo.to_jwk(key.public_key()))
        return {**found, "kid": kid, "use": "sig", "alg": algorithm}

    def token(self, kid: str, signer: Any = None, **claims: Any) -> str:
        key, algorithm = self.keys[kid]
        body = {
            "sub": "e-1",
            "tenant": "acme",
            "roles": ["employee"],
            "iss": ISSUER,
            "aud": AUDIENCE,
            "exp": int(time.time()) + 600,
            **claims,
        }
        return jwt.encode(body, signer or key, algorithm=algorithm, headers={"kid": kid})


@pytest.fixture
def provider() -> Iterator[Provider]:
    found = Provider()
    found.rotate_in("2026-a")
    yield found
    found.server.shutdown()


def verifier(provider: Provider, clock: list[float]) -> TokenVerifier:
    keys = JwksKeys(provider.url, max_age=600, min_refresh=30, clock=lambda: clock[0])
    return TokenVerifier(jwks=keys, audience=AUDIENCE, issuer=ISSUER)


async def test_tokens_are_verified_with_the_key_their_kid_names_and_rotation_is_followed(
    provider: Provider,
) -> None:
    clock = [0.0]
    tokens = verifier(provider, clock)
    assert (await tokens.verify_fetching(provider.token("2026-a"))).employee_id == "e-1"
    assert provider.requests == 1
    assert (await tokens.verify_fetching(provider.token("2026-a", sub="e-2"))).employee_id == "e-2"
    assert provider.requests == 1  # the keys are kept

    provider.rotate_in("2026-b", "ES256")  # the provider publishes its next key, then signs with it
    del provider.keys["2026-a"]
    clock[0] = 31.0
    assert (await tokens.verify_fetching(provider.token("2026-b"))).employee_id == "e-1"
    assert provider.requests == 2  # the unknown kid made one fetch

    clock[0] = 700.0  # old keys are fetched again: the retired one is gone
    with pytest.raises(Unauthenticated, match="signing key"):
        await tokens.verify_fetching(jwt.encode({"sub": "x"}, "k" * 32, headers={"kid": "2026-a"}))


async def test_made_up_key_ids_cannot_make_the_service_hammer_the_provider(provider: Provider) -> None:
    clock = [0.0]
    tokens = verifier(provider, clock)
    await tokens.verify_fetching(provider.token("2026-a"))
    for i in range(50):
        with pytest.raises(Unauthenticated):
            await tokens.verify_fetching(jwt.encode({"sub": "x"}, "k" * 32, headers={"kid": f"forged-{i}"}))
    assert provider.requests == 1  # no refresh within min_refresh of the last fetch
    clock[0] = 31.0
    with pytest.raises(Unauthenticated):
        await tokens.verify_fetching(jwt.encode({"sub": "x"}, "k" * 32, headers={"kid": "forged-again"}))
    assert provider.requests == 2  # one, once min_refresh has passed


async def test_a_token_signed_by_another_key_or_for_another_audience_or_issuer_is_refused(
    provider: Provider,
) -> None:
    tokens = verifier(provider, [0.0])
    stranger = rsa.generate_private_key(65537, 2048)
    with pytest.raises(Unauthenticated, match="invalid token"):
        await tokens.verify_fetching(provider.token("2026-a", signer=stranger))
    with pytest.raises(Unauthenticated, match="invalid token"):
        await tokens.verify_fetching(provider.token("2026-a", aud="someone-else"))
    with pytest.raises(Unauthenticated, match="invalid token"):
        await tokens.verify_fetching(provider.token("2026-a", iss="https://evil.example"))
    with pytest.raises(Unauthenticated, match="kid"):
        await tokens.verify_fetching(jwt.encode({"sub": "x"}, "k" * 32))
    # an HS256 token "signed" with the published public key (algorithm confusion)
    public_pem = (
        provider.keys["2026-a"][0]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(Unauthenticated):
        await tokens.verify_fetching(
            _hs256({"sub": "e-1", "tenant": "acme", "roles": []}, public_pem, "2026-a")
        )


def _hs256(claims: dict[str, Any], secret: bytes, kid: str) -> str:
    """An HS256 token made by hand (PyJWT refuses to use a public key as a secret)."""

    def part(value: bytes) -> str:
        return base64.urlsafe_b64encode(value).rstrip(b"=").decode()

    head = part(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = part(json.dumps({**claims, "exp": int(time.time()) + 600}).encode())
    signature = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{part(signature)}"


async def test_a_service_configured_with_a_jwks_url_authenticates_requests_with_it(
    provider: Provider,
) -> None:
    settings = ServiceSettings(
        service="goals", jwt_jwks_url=provider.url, jwt_audience=AUDIENCE, jwt_issuer=ISSUER
    )
    assert settings.jwt_algorithms == ["RS256", "ES256", "EdDSA"]
    assert not any("JWT_SECRET" in name for name in settings.development_values())  # the secret is unused
    app = FastAPI()
    app.state.token_verifier = verifier_for(settings)
    install_error_handlers(app)

    @app.get("/me")
    async def me(actor: CurrentActor) -> dict[str, str]:
        return {"employee": actor.employee_id}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        ok = await client.get("/me", headers={"Authorization": f"Bearer {provider.token('2026-a')}"})
        stranger = rsa.generate_private_key(65537, 2048)
        forged = await client.get(
            "/me", headers={"Authorization": f"Bearer {provider.token('2026-a', signer=stranger)}"}
        )
    assert ok.status_code == 200 and ok.json() == {"employee": "e-1"}
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "unauthenticated"
