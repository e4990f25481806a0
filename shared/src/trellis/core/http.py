"""What every service's HTTP API shares: auth dependency, error bodies, correlation ids, health.

Every error leaves as ``{"error": {"code", "message", "details"}}`` with the status
chosen here, in one place; nothing leaks a stack trace.
"""

from __future__ import annotations

from typing import Annotated, Any

import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trellis.core import errors
from trellis.core.auth import Actor, TokenVerifier
from trellis.core.ids import uuid7

log = structlog.get_logger("trellis.http")

STATUS = {
    errors.InvalidInput: 422,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.ConcurrencyError: 409,
    errors.RuleViolation: 409,
}

CORRELATION_HEADER = "x-correlation-id"


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def status_of(exc: errors.TrellisError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(errors.TrellisError)
    async def _trellis(_: Request, exc: errors.TrellisError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, errors.Unauthenticated) else None
        return JSONResponse(error_body(exc.code, exc.message, exc.details), status_of(exc), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"location": list(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type")}
            for e in exc.errors()
        ]
        return JSONResponse(
            error_body("invalid_input", "the request is not valid", {"problems": problems}), 422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {401: "unauthenticated", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(
            error_body(code, str(exc.detail)),
            exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("http.unhandled_error", error=type(exc).__name__)
        return JSONResponse(error_body("internal_error", "unexpected error; it has been logged"), 500)


class CorrelationMiddleware:
    """Binds a correlation id (from ``X-Correlation-Id`` or new) to the request's log lines."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(CORRELATION_HEADER.encode())
        correlation_id = incoming.decode()[:64] if incoming else str(uuid7())
        scope.setdefault("state", {})["correlation_id"] = correlation_id

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append(
                    (CORRELATION_HEADER.encode(), correlation_id.encode())
                )
            await send(message)

        with structlog.contextvars.bound_contextvars(correlation_id=correlation_id):
            await self.app(scope, receive, _send)


_bearer = HTTPBearer(auto_error=False)


def _authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Actor:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise errors.Unauthenticated("a bearer token is required")
    verifier: TokenVerifier = request.app.state.token_verifier
    return verifier.verify(credentials.credentials)


async def current_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    actor = _authenticate(request, credentials)
    structlog.contextvars.bind_contextvars(tenant=actor.tenant_id, actor=actor.employee_id)
    return actor


WITHHELD = "withheld"


async def withheld_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """Authenticates like ``current_actor`` but keeps the actor out of the request's log lines
    (``actor="withheld"``): for requests that may have to stay anonymous (anonymous feedback).
    The route binds the actor itself once it knows it may be named."""
    actor = _authenticate(request, credentials)
    structlog.contextvars.bind_contextvars(tenant=actor.tenant_id, actor=WITHHELD)
    return actor


def correlation_id(request: Request) -> str:
    return str(request.state.correlation_id) if hasattr(request.state, "correlation_id") else str(uuid7())


CurrentActor = Annotated[Actor, Depends(current_actor)]
WithheldActor = Annotated[Actor, Depends(withheld_actor)]
CorrelationId = Annotated[str, Depends(correlation_id)]
