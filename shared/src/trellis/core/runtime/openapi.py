"""The error model in every service's OpenAPI document, written once for every operation.

Every error leaves as ``ErrorBody`` (``core/http.py``); the answers an operation can give
follow from what it is, not from each route: any operation may be refused for overload
(503 ``overloaded``, 429 ``rate_limited``, both with ``Retry-After``) or a body over the
limit (413); one taking a body may get 400 ``invalid_json``; one taking input may get 422;
one behind a bearer token may get 401, 403, 404 and, unless it only reads, 409 (a domain
rule, or a stale ``If-Match``: there is no 412/428, the version check answers 409
``concurrency_conflict`` and ``If-Match`` is optional); every change takes an optional
``Idempotency-Key`` header. ``install_openapi`` adds them to
the document FastAPI generates, keeping what a route documents itself.

Parameters are never ``null`` in HTTP (absent is their "no value"), so the ``null`` that
FastAPI lists for an optional parameter is taken out of its schema.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

ERROR_REF = "#/components/schemas/ErrorBody"


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable and stable, e.g. `not_found`, `invalid_cursor`")
    message: str = Field(description="for people; may change")
    details: dict[str, Any] = Field(description="what the code needs, e.g. `problems` for 422")


class ErrorBody(BaseModel):
    """The one body of every error answer."""

    error: ErrorDetail


_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
_WWW_AUTHENTICATE = {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}}

ANSWERS: dict[str, tuple[str, dict[str, Any]]] = {
    "400": ("`invalid_json`: the body is not strict JSON; `invalid_idempotency_key`", {}),
    "401": ("`unauthenticated`: no valid bearer token", _WWW_AUTHENTICATE),
    "403": ("`forbidden`: the token's roles or relations do not allow this", {}),
    "404": ("`not_found`: no such thing in your tenant", {}),
    "409": (
        "`rule_violation`, `concurrency_conflict` (a stale `If-Match`), or "
        "`idempotency_outcome_unknown` (the key's first request made its change; its answer was lost)",
        {},
    ),
    "413": ("the body is over the size limit", {}),
    "422": (
        "`invalid_input` (`details.problems`), `invalid_cursor`, `contract_violation`, "
        "`idempotency_key_reused` (the key was used for another request)",
        {},
    ),
    "429": ("`rate_limited`: too many requests; retry after `Retry-After`", _RETRY_AFTER),
    "503": ("`overloaded`: retry after `Retry-After`", _RETRY_AFTER),
}

_READS = {"get", "head", "options"}

IDEMPOTENCY_KEY = {  # trellis.core.runtime.idempotency
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "run this change at most once: a retry with the same key and request gets the "
    "first answer (with `Idempotent-Replayed: true`) for 24 hours",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
}
_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def error_answers(method: str, operation: dict[str, Any]) -> list[str]:
    """The error statuses ``operation`` may answer, from what it is."""
    statuses = ["413", "429", "503"]
    secured = bool(operation.get("security"))
    if "requestBody" in operation or (secured and method not in _READS):
        statuses.append("400")
    if secured or operation.get("parameters") or "requestBody" in operation:
        statuses.append("422")
    if secured:
        statuses += ["401", "403", "404"]
        if method not in _READS:
            statuses.append("409")
    return sorted(statuses)


def document_errors(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with ``ErrorBody`` as a component and every operation's error answers."""
    components = document.setdefault("components", {}).setdefault("schemas", {})
    schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    components["ErrorBody"] = schema
    for path_item in document.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in _METHODS:
                continue
            for parameter in operation.get("parameters", []):
                parameter["schema"] = _without_null(parameter.get("schema", {}))
            if operation.get("security") and method not in _READS:
                operation.setdefault("parameters", []).append(dict(IDEMPOTENCY_KEY))
            responses = operation.setdefault("responses", {})
            for status in error_answers(method, operation):
                default = "HTTPValidationError" in str(responses.get(status, {}))
                if status in responses and not default:
                    continue  # the route documents it itself
                description, headers = ANSWERS[status]
                responses[status] = {
                    "description": description,
                    "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
                    **({"headers": headers} if headers else {}),
                }
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused not in str(document.get("paths", {})):
            components.pop(unused, None)
    return document


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    options = schema.get("anyOf")
    if not options:
        return schema
    kept = [option for option in options if option.get("type") != "null"]
    if len(kept) == len(options):
        return schema
    rest = {key: value for key, value in schema.items() if key != "anyOf"}
    return {**kept[0], **rest} if len(kept) == 1 else {**rest, "anyOf": kept}


def install_openapi(app: FastAPI) -> None:
    """Make ``app``'s OpenAPI document carry the error model (call once routes are included)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
