"""One Graph call being served: its parameters (query, form or JSON), version, and how to answer it."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass, field
from typing import Any, NoReturn
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from herald.sandboxes.meta.errors import INVALID_PARAMETER, NO_SUCH_FIELD, Category, ErrorSpec
from herald.sandboxes.meta.state import MetaSandbox
from herald.sandboxes.meta.usage import Usage, app_usage_header, buc_header

JSON_TYPE = "application/json; charset=UTF-8"
_PAGE_THROTTLES = frozenset({32, 80001})


class Abort(Exception):
    """Raised to answer the call at once with ``response`` (an error)."""

    def __init__(self, response: Response) -> None:
        super().__init__("graph call aborted")
        self.response = response


def fbtrace_id() -> str:
    return secrets.token_urlsafe(8)[:11]


@dataclass
class GraphCall:
    """A request to the emulated Graph API."""

    sandbox: MetaSandbox
    request: Request
    version: str
    params: dict[str, Any]
    segments: list[str] = field(default_factory=list)
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def param(self, name: str) -> str | None:
        value = self.params.get(name)
        if value is None:
            return None
        return value if isinstance(value, str) else json.dumps(value) if isinstance(value, dict | list) else str(value)

    def reply(self, body: object, *, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        base = {"facebook-api-version": self.version, "x-fb-trace-id": fbtrace_id()}
        return Response(
            json.dumps(body, separators=(",", ":")), status, headers={**base, **(headers or {})}, media_type=JSON_TYPE
        )

    def error(self, spec: ErrorSpec, *, page_id: str | None = None, regain_minutes: int | None = None) -> Response:
        """Graph's error body, status and headers (usage headers on throttles, ``WWW-Authenticate`` on OAuth)."""
        config = self.sandbox.config
        status, headers = spec.status, {}
        if spec.category is Category.THROTTLE:
            status = config.throttle_status
            regain = regain_minutes if regain_minutes is not None else config.default_regain_minutes
            if spec.code in _PAGE_THROTTLES and page_id is not None:
                headers["x-business-use-case-usage"] = buc_header(page_id, Usage(100, regain))
            else:
                headers["x-app-usage"] = app_usage_header(100)
        elif spec.category is Category.TOKEN:
            status = config.token_error_status
        if spec.type == "OAuthException":
            kind = "invalid_token" if spec.code == 190 else "invalid_request"
            message = spec.message.replace('"', "'")
            headers["www-authenticate"] = f'OAuth "Facebook Platform" "{kind}" "{message}"'
        trace = fbtrace_id()
        return self.reply(spec.body(trace), status=status, headers={**headers, "x-fb-trace-id": trace})

    def fail(self, spec: ErrorSpec, *, page_id: str | None = None, regain_minutes: int | None = None) -> NoReturn:
        raise Abort(self.error(spec, page_id=page_id, regain_minutes=regain_minutes))

    def fields(self, allowed: frozenset[str], default: tuple[str, ...], node_type: str) -> tuple[str, ...]:
        """The ``fields`` parameter; an unknown field is Graph's ``(#100) Tried accessing nonexisting field``.

        Graph returns a node's ``id`` whether or not ``fields`` names it (after the requested fields), on a node read
        and on every node of an edge, so ``id`` is added when the node type has one.
        """
        raw = self.param("fields")
        if not raw:
            return default
        names = tuple(name.strip() for name in raw.split(",") if name.strip())
        for name in names:
            if name not in allowed:
                self.fail(NO_SUCH_FIELD.with_message(NO_SUCH_FIELD.message.format(field=name, node=node_type)))
        if "id" in allowed and "id" not in names:
            names += ("id",)
        return names

    def int_param(self, name: str, default: int) -> int:
        raw = self.param(name)
        if raw is None or not raw:
            return default
        if not raw.strip().lstrip("-").isdigit():
            self.fail(INVALID_PARAMETER.with_message(f"(#100) Param {name} must be an integer"))
        return int(raw)


async def read_params(request: Request) -> dict[str, Any]:
    """Graph takes parameters from the query, a form body or a JSON body
    (https://developers.facebook.com/docs/graph-api/overview), merged."""
    params: dict[str, Any] = dict(request.query_params)
    if request.method not in ("POST", "DELETE"):
        return params
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        params.update(parse_qsl((await request.body()).decode(), keep_blank_values=True))
    elif content_type.startswith("application/json"):
        params.update(await _json_object(request))
    elif content_type.startswith("multipart/form-data"):
        form = await request.form()
        params.update({key: value for key, value in form.items() if isinstance(value, str)})
    return params


async def _json_object(request: Request) -> dict[str, Any]:
    body = await request.body()
    if not body:
        return {}
    try:
        decoded = json.loads(body)
    except ValueError:
        decoded = None
    if not isinstance(decoded, dict):
        raise ParamsError("(#100) The request body is not a JSON object")
    return decoded


class ParamsError(ValueError):
    """The parameters could not be read; the message is Graph's (#100) wording."""
