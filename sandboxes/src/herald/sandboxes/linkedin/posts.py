"""``/rest/posts``: create (``x-restli-id`` in a 201 with an empty body), find by author, get, delete."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from herald.sandboxes.faults import Operation
from herald.sandboxes.ledger import StoredPost
from herald.sandboxes.linkedin import answers, fault_answers
from herald.sandboxes.linkedin.assets import AssetStatus
from herald.sandboxes.linkedin.config import LinkedInSandboxConfig
from herald.sandboxes.linkedin.gateway import Caller, Gateway, resource_version
from herald.sandboxes.linkedin.little_text import render
from herald.sandboxes.linkedin.permissions import may_post, may_read
from herald.sandboxes.linkedin.state import LinkedInState, account_key, person_urn
from herald.sandboxes.linkedin.validation import media_ids, problems

ENTITY_FIELDS = ("author", "visibility", "distribution", "lifecycleState", "isReshareDisabledByAuthor", "content")
MAX_COUNT = 100


def commentary_length(commentary: str) -> int:
    """LinkedIn's backend is Java: string length in UTF-16 code units."""
    return len(commentary.encode("utf-16-le")) // 2


class Posts:
    """The Posts resource. Handlers are ``async`` so check-then-store runs without interleaving."""

    def __init__(self, state: LinkedInState, config: LinkedInSandboxConfig, gateway: Gateway) -> None:
        self.state = state
        self.config = config
        self.gateway = gateway

    def router(self) -> APIRouter:
        router = APIRouter(prefix="/rest/posts", tags=["posts"])
        router.add_api_route("", self.create, methods=["POST"])
        router.add_api_route("", self.find, methods=["GET"])
        router.add_api_route("/{urn}", self.get, methods=["GET"])
        router.add_api_route("/{urn}", self.delete, methods=["DELETE"])
        return router

    async def create(self, request: Request) -> Response:
        caller = self.gateway.versioned(request)
        if isinstance(caller, Response):
            return caller
        body = await _json_object(request)
        if body is None:
            return answers.unreadable_body()
        author = body.get("author") if isinstance(body.get("author"), str) else None
        account = account_key(author) if author else caller.member
        self.state.create_requests[account] += 1
        fault = self.state.faults.take(Operation.CREATE, account)
        early = await fault_answers.before(fault, fault_answers.API_ERRORS, self._context(account, caller))
        if early is not None:
            return early
        refused = self._refusal(caller, body)
        if refused is not None:
            return refused
        post = self._store(caller, body, account)
        return await fault_answers.after(fault, answers.created(post.id))

    async def find(self, request: Request) -> Response:
        """``GET /rest/posts?q=author&author=…&sortBy=CREATED|LAST_MODIFIED&start=&count=`` (newest first)."""
        caller = self.gateway.versioned(request)
        if isinstance(caller, Response):
            return caller
        query = request.query_params
        if query.get("q") != "author" or not query.get("author"):
            return answers.illegal_argument("Finder 'author' requires the parameters q=author and author")
        paging = _paging(query.get("start", "0"), query.get("count", "10"))
        if paging is None:
            return answers.illegal_argument(f"start must be >= 0 and count between 0 and {MAX_COUNT}")
        author = query["author"]
        early = await self._read_fault(account_key(author), caller)
        if early is not None:
            return early
        if not may_read(caller, author, self.config):
            return answers.access_denied(f"partnerApiPostsExternal.FINDER-author.{resource_version(caller)}")
        return self._page(account_key(author), *paging)

    async def get(self, urn: str, request: Request) -> Response:
        caller = self.gateway.versioned(request)
        if isinstance(caller, Response):
            return caller
        post = self.state.posts.get(urn)
        early = await self._read_fault(post.account if post else caller.member, caller)
        if early is not None:
            return early
        if post is None:
            return answers.not_found(f"Post {urn} does not exist")
        if not may_read(caller, post.data["author"], self.config):
            return answers.access_denied(f"partnerApiPostsExternal.GET.{resource_version(caller)}")
        return JSONResponse(entity(post))

    async def delete(self, urn: str, request: Request) -> Response:
        caller = self.gateway.versioned(request)
        if isinstance(caller, Response):
            return caller
        post = self.state.posts.get(urn)
        if post is None:
            return answers.not_found(f"Post {urn} does not exist")
        if not may_post(caller, post.data["author"], self.config):
            return answers.access_denied(f"partnerApiPostsExternal.DELETE.{resource_version(caller)}")
        self.state.posts.delete(urn)
        # 204: https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/posts-api
        return Response(status_code=204)

    def _refusal(self, caller: Caller, body: dict[str, Any]) -> Response | None:
        """Schema, permission, length, duplicate and daily-quota checks, in that order."""
        lines = problems(body)
        if lines:
            return answers.schema_errors(lines)
        if not may_post(caller, body["author"], self.config):
            return answers.access_denied(f"partnerApiPostsExternal.CREATE.{resource_version(caller)}")
        unusable = self._media_refusal(body)
        if unusable is not None:
            return unusable
        length = commentary_length(body["commentary"])
        if length > self.config.commentary_limit:
            limit = self.config.commentary_limit
            return answers.schema_errors([f"ERROR :: /commentary :: length {length} exceeds maximum length {limit}"])
        existing = self.state.duplicate_of(
            account_key(body["author"]), body["commentary"], self.config.duplicate_window
        )
        if existing is not None:
            return answers.duplicate(existing.id)
        return self._over_daily_limit(caller.member)

    def _media_refusal(self, body: dict[str, Any]) -> Response | None:
        """Every referenced image or video must exist, be owned by the author, and be AVAILABLE."""
        now = dt.datetime.now(dt.UTC)
        for urn in media_ids(body):
            asset = self.state.assets.get(urn)
            if asset is None:
                return answers.media_unusable(urn, "does not exist")
            if asset.owner != body["author"]:
                return answers.assets_not_owned()
            status = asset.status(now)
            if status is not AssetStatus.AVAILABLE:
                return answers.media_unusable(urn, f"is in status {status.value}, not AVAILABLE")
        return None

    def _over_daily_limit(self, member: str) -> Response | None:
        limit = self.config.daily_post_limit
        if limit is not None and self.state.daily_posts[(member, _today())] >= limit:
            return answers.too_many_requests(answers.next_utc_midnight(), retry_after=self.config.send_retry_after)
        return None

    def _store(self, caller: Caller, body: dict[str, Any], account: str) -> StoredPost:
        self.state.daily_posts[(caller.member, _today())] += 1
        fields = {name: body[name] for name in ENTITY_FIELDS if name in body}
        data = {**fields, "created_by": person_urn(caller.member), "rendered": render(body["commentary"])}
        post = StoredPost(
            id=self.state.next_share_urn(),
            account=account,
            text=body["commentary"],
            created_at=dt.datetime.now(dt.UTC),
            data=data,
        )
        return self.state.remember(post)

    async def _read_fault(self, account: str, caller: Caller) -> Response | None:
        fault = self.state.faults.take(Operation.READ, account)
        return await fault_answers.before(fault, fault_answers.API_ERRORS, self._context(account, caller))

    def _context(self, account: str, caller: Caller) -> fault_answers.FaultContext:
        return fault_answers.FaultContext(self.state, account, caller.version, self.config.send_retry_after)

    def _page(self, account: str, start: int, count: int) -> JSONResponse:
        posts = self.state.posts.by_account(account)  # newest first: CREATED and LAST_MODIFIED agree (no edits)
        elements = [entity(post) for post in posts[start : start + count]]
        paging = {"start": start, "count": count, "links": [], "total": len(posts)}
        return JSONResponse({"paging": paging, "elements": elements})


def entity(post: StoredPost) -> dict[str, Any]:
    """A stored post as ``GET /rest/posts`` shows it: the commentary as sent, times in epoch milliseconds.

    The field set follows the example of
    https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/posts-api; fields it does not
    show are omitted.
    """
    millis = int(post.created_at.timestamp() * 1000)
    fields = {name: post.data[name] for name in ENTITY_FIELDS if name in post.data}
    return {
        "id": post.id,
        "commentary": post.text,
        **fields,
        "createdAt": millis,
        "lastModifiedAt": millis,
        "publishedAt": millis,
        "lifecycleStateInfo": {"isEditedByAuthor": False},
    }


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.body())
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _paging(start: str, count: str) -> tuple[int, int] | None:
    if not (start.isdigit() and count.isdigit()) or int(count) > MAX_COUNT:
        return None
    return int(start), int(count)


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()
