"""What every Herald HTTP API shares: the request base model, the documented error answers, and the handlers that
keep hostile input away from a 500.

* :class:`ApiModel` refuses unknown fields (a misspelt field is a 422 naming it, not silently ignored) and any text
  PostgreSQL could not store, wherever it sits in the body.
* :func:`install_api_defaults` (called by :meth:`herald.kit.runtime.ServiceRuntime.create_app`) refuses such text in
  the query string and path before any route runs, renders validation errors even when the refused input cannot be
  encoded, and makes the OpenAPI document say what the service really answers: 400 for a body that cannot be read,
  422 for invalid input, ``/metrics`` as Prometheus text. A database that cannot be reached (refused, restarting,
  connection lost, pool exhausted) answers 503 with ``Retry-After`` wherever it happens, API-key checks included.
* :data:`TEAM_API_RESPONSES` documents 401/404/422 on routers authenticated by team API keys.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Annotated, Any
from urllib.parse import parse_qsl, unquote

import asyncpg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Strict, model_validator
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from herald.kit.validation import text_problem, unsafe_text

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_METHODS = frozenset({"GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE"})
_VALIDATION_SCHEMA = {"$ref": "#/components/schemas/HTTPValidationError"}
_MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"detail": {}},
    "required": ["detail"],
}


def _answer(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema or _MESSAGE_SCHEMA}}}


BAD_REQUEST = _answer("The body could not be read (e.g. it is not UTF-8).")
UNAUTHORIZED = _answer("Missing, invalid or revoked API key.")
NOT_FOUND = _answer("No such resource for this team.")
INVALID = _answer("Invalid input; `detail[].loc` names the field and `detail[].msg` says what is wrong.")
TEAM_API_RESPONSES: dict[int | str, dict[str, Any]] = {401: UNAUTHORIZED, 404: NOT_FOUND, 422: INVALID}
"""``responses=`` for a router whose routes take a team API key."""


WholeNumber = Annotated[int, Strict()]
"""An integer field of a request body. Pydantic would read JSON ``true`` as 1 and ``false`` as 0 (its lax mode), so a
boolean where the OpenAPI document says integer would be accepted; strictly, it answers 422."""


class ApiModel(BaseModel):
    """The base of every public request body: unknown fields and unstorable text answer 422."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        for path, problem in unsafe_text(data):
            where = ".".join(str(part) for part in path) or "value"
            raise ValueError(f"{where}: text {problem}")
        return data


def _printable(value: Any) -> Any:
    # A refused input is echoed back in the 422; a lone surrogate in it could not be encoded as UTF-8 (a 500).
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(v) for v in value]
    return value


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    # Starlette's 405 lists the methods of the first route on the path only (GET and POST on one path are two
    # routes): answer with every method the OpenAPI document gives the path.
    # A literal path shadows a template it also matches (``/v1/distributions/bulk`` is not a ``{distribution_id}``):
    # only the matching paths with the fewest parameters count.
    matches: dict[int, set[str]] = {}
    path = request.url.path
    for template, operations in request.app.openapi().get("paths", {}).items():
        if re.fullmatch(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)), path):
            methods = {method.upper() for method in operations if method.upper() in _METHODS}
            matches.setdefault(template.count("{"), set()).update(methods)
    allowed = matches[min(matches)] if matches else set()
    if not allowed:
        return await http_exception_handler(request, exc)  # type: ignore[arg-type]
    return JSONResponse(
        {"detail": "Method Not Allowed"}, status_code=405, headers={"Allow": ", ".join(sorted(allowed))}
    )


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": _printable(jsonable_encoder(exc.errors()))}, status_code=422)


DATABASE_RETRY_AFTER_SECONDS = 5
# SQLSTATE classes of a database that is away rather than a statement that is wrong: 08 connection exception,
# 57P01-57P03 admin/crash shutdown and "cannot connect now" (starting up or recovering).
_OUTAGE_STATES = ("08", "57P01", "57P02", "57P03")


def is_database_outage(exc: BaseException) -> bool:
    """True when ``exc`` says the database could not be reached, not that a statement was wrong."""
    if isinstance(exc, PoolTimeout | ConnectionError | TimeoutError | socket.gaierror):
        return True
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or (exc.orig is not None and is_database_outage(exc.orig))
    if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError):
        state = getattr(exc, "sqlstate", None) or ""
        return isinstance(exc, asyncpg.exceptions.ConnectionDoesNotExistError) or state.startswith(_OUTAGE_STATES)
    cause = exc.__cause__
    return cause is not None and is_database_outage(cause)


async def _unexpected(request: Request, exc: Exception) -> Response:
    if is_database_outage(exc):
        return JSONResponse(
            {"detail": "the database is unavailable; retry shortly"},
            status_code=503,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )
    # Anything else is a bug: a plain 500, as without this handler (Starlette re-raises either way, so it is logged).
    return PlainTextResponse("Internal Server Error", status_code=500)


def _query_problem(scope: Scope) -> dict[str, Any] | None:
    raw = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(raw, keep_blank_values=True):
        for part, text in (("name", name), ("value", value)):
            problem = text_problem(text)
            if problem is not None:
                shown = name.encode("unicode_escape").decode()
                return {"loc": ["query", shown], "msg": f"query parameter {part} {problem}", "type": "value_error"}
    problem = text_problem(unquote(scope.get("path", "")))
    if problem is not None:
        return {"loc": ["path"], "msg": f"path {problem}", "type": "value_error"}
    return None


class UnstorableTextGuard:
    """ASGI middleware: a query string or path carrying text PostgreSQL refuses answers 422 before any route."""

    def __init__(self, app: AsgiApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (problem := _query_problem(scope)) is not None:
            response = JSONResponse({"detail": [problem]}, status_code=422)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _document(schema: dict[str, Any]) -> dict[str, Any]:
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if path == "/metrics":
                responses["200"] = {
                    "description": "Prometheus text exposition format.",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            if "requestBody" in operation:
                responses.setdefault("400", BAD_REQUEST)
            if operation.get("parameters") or "requestBody" in operation:
                invalid = responses.setdefault("422", {"description": INVALID["description"]})
                declared = invalid.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
                if not declared or declared.endswith("/HTTPValidationError"):  # a route's own 422 model stays
                    invalid["content"] = {"application/json": {"schema": _VALIDATION_SCHEMA}}
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    if "HTTPValidationError" not in components:  # only when no route has parameters: keep the $ref resolvable
        components["HTTPValidationError"] = {"type": "object", "properties": {"detail": {"type": "array"}}}
    return schema


def install_api_defaults(app: FastAPI) -> None:
    """Make ``app`` refuse unstorable text at the edge, never fail rendering a 422, and document what it answers."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(405, _method_not_allowed)
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(UnstorableTextGuard)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = _document(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
