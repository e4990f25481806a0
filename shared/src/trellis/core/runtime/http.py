"""What every service's HTTP API shares: auth dependency, error bodies, correlation ids, and
the request kit (strict JSON, the request body base, bounded identifiers, ``If-Match``).

Every error leaves as ``{"error": {"code", "message", "details"}}`` with the status
chosen here, in one place; nothing leaks a stack trace.

Request JSON is strict: the ``NaN``/``Infinity``/``-Infinity`` literals that Python's
parser accepts are refused with 400 (``invalid_json``), and every number of a request
body must be finite (``RequestBody``: a literal like ``1e400`` parses to infinity and is
refused with 422). A non-finite number that reached an event would be written as
``null`` and break every consumer of it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trellis.contracts.ids import uuid7
from trellis.core import errors, strict_json
from trellis.core.runtime.auth import Actor, TokenVerifier

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
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = getattr(exc, "code", None) or {
            401: "unauthenticated",
            404: "not_found",
            405: "method_not_allowed",
        }.get(exc.status_code, "http_error")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request)
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=headers or None)

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        if not exc.connection_invalidated:  # a statement failed, not the connection
            return await _unexpected(request, exc)
        # The server dropped the connection (a restart, a failover): the pool is discarded
        # and the next request gets a fresh one. Whether a COMMIT that was cut off went
        # through is unknown (the client may find the change already made).
        log.warning("http.database_connection_lost", error=str(exc.orig))
        return JSONResponse(
            error_body("database_unavailable", "the database connection was lost; retry"),
            503,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(ConnectionError)
    async def _unreachable(_: Request, exc: ConnectionError) -> JSONResponse:
        log.warning("http.database_unreachable", error=f"{type(exc).__name__}: {exc}")
        return JSONResponse(
            error_body("database_unavailable", "the database cannot be reached; retry"),
            503,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("http.unhandled_error", error=type(exc).__name__)
        return JSONResponse(error_body("internal_error", "unexpected error; it has been logged"), 500)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> str:
    """Every method the request's path answers: Starlette's 405 names only the first route
    matching the path, though a path's methods are often spread over several routes."""
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    )


class CorrelationMiddleware:
    """Binds a correlation id (from ``X-Correlation-Id`` or new) to the request's log lines."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(CORRELATION_HEADER.encode())
        correlation_id = _correlation_id_from(incoming)
        scope.setdefault("state", {})["correlation_id"] = correlation_id

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append(
                    (CORRELATION_HEADER.encode(), correlation_id.encode())
                )
            await send(message)

        with structlog.contextvars.bound_contextvars(correlation_id=correlation_id):
            await self.app(scope, receive, _send)


def _correlation_id_from(header: bytes | None) -> str:
    """The caller's correlation id if it is printable ASCII (at most 64 characters), else a new one.

    Header bytes are whatever the client sent: a value that is not ASCII, or holds control
    characters, would break log lines and the response header, so it is replaced.
    """
    if header:
        value = header[:64].decode("ascii", errors="replace")
        if value.isprintable() and "\ufffd" not in value and value.strip():
            return value
    return str(uuid7())


_bearer = HTTPBearer(auto_error=False)


async def _authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Actor:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise errors.Unauthenticated("a bearer token is required")
    verifier: TokenVerifier = request.app.state.token_verifier
    return await verifier.verify_fetching(credentials.credentials)


async def current_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    actor = await _authenticate(request, credentials)
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
    actor = await _authenticate(request, credentials)
    structlog.contextvars.bind_contextvars(tenant=actor.tenant_id, actor=WITHHELD)
    return actor


async def correlation_id(request: Request) -> str:  # async: a sync dependency hops to a thread
    return str(request.state.correlation_id) if hasattr(request.state, "correlation_id") else str(uuid7())


CurrentActor = Annotated[Actor, Depends(current_actor)]
WithheldActor = Annotated[Actor, Depends(withheld_actor)]
CorrelationId = Annotated[str, Depends(correlation_id)]


# --- the request kit ---------------------------------------------------------------


class InvalidJSON(HTTPException):
    """A request body that is not strict JSON (400, ``invalid_json``)."""

    code = "invalid_json"

    def __init__(self, detail: str) -> None:
        super().__init__(status_code=400, detail=detail)


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


class NulInText(HTTPException):
    """Text holding U+0000 (422, ``invalid_input``): PostgreSQL text and jsonb cannot store
    it, so it is refused here rather than failing there as a 500."""

    code = "invalid_input"

    def __init__(self, where: str) -> None:
        super().__init__(status_code=422, detail=f"the request's {where} holds the NUL character")


class StrictJSONRequest(Request):
    """A request whose JSON body refuses ``NaN``, ``Infinity`` and ``-Infinity`` (and NUL)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = strict_json.loads(body)
            except strict_json.NonFiniteNumber as exc:
                raise InvalidJSON(f"the body is not strict JSON: {exc}") from exc
            if b"\\u0000" in body and _holds_nul(self._json):
                raise NulInText("body")
        return self._json


class UnknownQueryParameter(HTTPException):
    """A query parameter the operation does not take (422, ``invalid_input``): refused like
    an unknown body field, not ignored (a misspelt filter would answer everything)."""

    code = "invalid_input"

    def __init__(self, names: list[str]) -> None:
        super().__init__(status_code=422, detail=f"unknown query parameters: {', '.join(names)}")


def _query_names(dependant: Dependant) -> frozenset[str]:
    names: set[str] = set()
    pending = [dependant]
    while pending:
        current = pending.pop()
        names.update(param.alias for param in current.query_params)
        pending.extend(current.dependencies)
    return frozenset(names)


class StrictJSONRoute(APIRoute):
    """Every route of a Trellis API parses its body as strict JSON and takes only the query
    parameters it declares (``api_router`` uses it)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        known = _query_names(self.dependant)

        async def strict(request: Request) -> Response:
            if "\x00" in request.scope["path"]:
                raise NulInText("path")
            if b"%00" in request.scope["query_string"].lower():
                raise NulInText("query")
            unknown = sorted(set(request.query_params) - known)
            if unknown:
                raise UnknownQueryParameter(unknown[:10])
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict


def api_router(**kwargs: Any) -> APIRouter:
    """An ``APIRouter`` whose routes parse strict JSON: the one way to make a router."""
    return APIRouter(route_class=StrictJSONRoute, **kwargs)


class RequestBody(BaseModel):
    """Base of every request body: unknown fields are refused (422), never ignored, and
    every number must be finite."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


# pydantic matches with the Rust engine, where ``$`` is the end of the text (no trailing newline)
ID_PATTERN = r"^[A-Za-z0-9_\-]+$"
MAX_ID_LENGTH = 64

Id = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN)]
"""An identifier given by a caller (an employee, team, goal...): letters, digits, ``-`` and
``_``, 1 to 64 characters; the same rule as the subject tokens and the token's ``sub``."""

MAX_MEASURE = 1e15
Measure = Annotated[float, Field(ge=-MAX_MEASURE, le=MAX_MEASURE)]
"""A measured value (a key result's start, target or progress): finite and bounded, so the
difference of any two and their ratio stay finite."""

MAX_VERSION = 2**31 - 1


def _if_match_schema(schema: dict[str, Any]) -> None:
    # Absent is the only "no version": the header is never null, so the schema has no null
    schema.pop("anyOf", None)
    schema.update(type="integer", minimum=0, maximum=MAX_VERSION)


IfMatch = Annotated[
    int | None,
    Header(
        alias="If-Match",
        description=(
            "the version the change expects (an integer, as the thing's `version` reads); "
            "409 `concurrency_conflict` if the thing has moved on; absent: no check"
        ),
        ge=0,
        le=MAX_VERSION,
        json_schema_extra=_if_match_schema,
    ),
]

MIN_YEAR, MAX_YEAR = 1900, 2200
"""Dates and times a caller may give: far enough for any birth date or history, near enough
that adding the longest durations (a ten-year milestone, a window) stays a valid date."""


def _written_date(value: Any) -> Any:
    # pydantic reads a number as a Unix time; the API takes dates as ISO 8601 text only
    if isinstance(value, int | float):
        raise ValueError("a date or moment is ISO 8601 text, not a number")
    return value


def _date_within_years(value: dt.date) -> dt.date:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"the year must be between {MIN_YEAR} and {MAX_YEAR}")
    return value


_YEARS = f"years {MIN_YEAR} to {MAX_YEAR}"
Date = Annotated[
    dt.date, BeforeValidator(_written_date), AfterValidator(_date_within_years), Field(description=_YEARS)
]
"""A calendar date given by a caller, within ``MIN_YEAR``..``MAX_YEAR`` (else 422)."""

DateTime = Annotated[
    dt.datetime, BeforeValidator(_written_date), AfterValidator(_date_within_years), Field(description=_YEARS)
]
"""A moment given by a caller, within ``MIN_YEAR``..``MAX_YEAR`` (else 422)."""
