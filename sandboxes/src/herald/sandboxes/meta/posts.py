"""Page posts: ``POST /{page}/feed``, ``GET /{page}/published_posts|posts|feed``, ``GET|DELETE /{post-id}``."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from typing import Any
from urllib.parse import urlsplit

from starlette.responses import Response

from herald.sandboxes.faults import Operation
from herald.sandboxes.ledger import StoredPost
from herald.sandboxes.meta.auth import (
    PUBLISH_SCOPE,
    READ_SCOPE,
    Caller,
    authenticate,
    presented_token,
    require_page_token,
)
from herald.sandboxes.meta.call import GraphCall
from herald.sandboxes.meta.errors import (
    BAD_ATTACHMENT,
    DUPLICATE,
    INVALID_LINK,
    INVALID_PARAMETER,
    MISSING_CONTENT,
    NO_IG_PERMISSION,
    NO_SUCH_FIELD,
    NO_SUCH_OBJECT,
    PAGE_RATE_LIMIT,
    SCHEDULED_PUBLISHED,
    TOO_LONG,
)
from herald.sandboxes.meta.injection import finish, take_fault
from herald.sandboxes.meta.usage import buc_header
from herald.sandboxes.oauth import TokenRejected

# Not documented by Meta; 63206 is the limit widely cited by clients (e.g. Postiz).
MESSAGE_LIMIT = 63_206
POST_FIELDS = frozenset(
    {"id", "message", "created_time", "updated_time", "permalink_url", "is_published", "scheduled_publish_time"}
)
DEFAULT_POST_FIELDS = ("created_time", "message", "id")  # what Graph returns without ``fields``
PAGE_FIELDS = frozenset({"id", "name", "category", "instagram_business_account"})
# ``instagram_business_account{id,username}``: Graph's nested field selection, the one nesting the sandbox serves.
_IG_FIELD = re.compile(r"instagram_business_account(\{([a-z_,]*)\})?")
USER_FIELDS = frozenset({"id", "name"})
# Not documented: clients should read ``permalink_url``
# (https://developers.facebook.com/docs/graph-api/reference/page/feed); this is the commonly seen pattern.
PERMALINK = "https://www.facebook.com/{page_id}/posts/{number}"
DEFAULT_LIMIT, MAX_LIMIT = 25, 100
_TRUE, _FALSE = frozenset({"true", "1"}), frozenset({"false", "0"})


def graph_time(moment: dt.datetime) -> str:
    """``2024-01-01T12:00:00+0000``."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def charge_page(call: GraphCall, caller: Caller, page_id: str, scope: str) -> dict[str, str]:
    """Check the caller may use the Page, charge its BUC budget; return the usage header for the answer."""
    require_page_token(call, caller, page_id, scope)
    usage = call.sandbox.usage.record(page_id, call.now)
    if usage.regain_minutes:
        call.fail(PAGE_RATE_LIMIT, page_id=page_id, regain_minutes=usage.regain_minutes)
    return {"x-business-use-case-usage": buc_header(page_id, usage)}


def resolve_node(call: GraphCall, node: str) -> str:
    """``me`` is the token's own account (a Page, for a Page token); unresolvable stays ``me`` (auth will fail)."""
    if node != "me":
        return node
    token = presented_token(call)
    try:
        return call.sandbox.state.tokens.check(token).account if token else node
    except TokenRejected:
        return node


async def create_post(call: GraphCall, node: str) -> Response:
    """Publish ``message`` / ``link`` (and ``published`` / ``scheduled_publish_time``) → ``{"id": "{page}_{n}"}``."""
    page_id = resolve_node(call, node)
    call.sandbox.state.create_requests[page_id] += 1
    fault = await take_fault(call, Operation.CREATE, page_id, page_id=page_id)
    caller = authenticate(call)
    headers = charge_page(call, caller, page_id, PUBLISH_SCOPE)
    attached = attached_media(call, page_id)
    message, link = _content(call, attached=bool(attached))
    published, scheduled = _publication(call)
    fields = call.fields(POST_FIELDS, ("id",), "PagePost")
    if message.strip() and _duplicate_of(call, page_id, message) is not None:
        call.fail(DUPLICATE)
    post = _store(call, page_id, message, link=link, published=published, scheduled=scheduled)
    if attached:
        post.data["attached_media"] = attached
        for photo_id in attached:
            call.sandbox.uploads[photo_id].post_id = post.id
    return await finish(call, fault, call.reply({"id": post.id, **_view(post, fields)}, headers=headers))


def _content(call: GraphCall, *, attached: bool = False) -> tuple[str, str | None]:
    message = call.param("message") or ""
    link = call.param("link") or None
    if not message.strip() and link is None and not attached:
        call.fail(MISSING_CONTENT)
    if len(message) > MESSAGE_LIMIT:
        call.fail(TOO_LONG.with_message(TOO_LONG.message.format(limit=MESSAGE_LIMIT)))
    if link is not None:
        parts = urlsplit(link)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            call.fail(INVALID_LINK)
    return message, link


def attached_media(call: GraphCall, page_id: str) -> list[str]:
    """The photo ids of ``attached_media[i]`` parameters (or one JSON list ``attached_media``), checked."""
    raw: list[Any] = []
    listed = call.param("attached_media")
    if listed:
        try:
            decoded = json.loads(listed)
        except ValueError:
            decoded = None
        if not isinstance(decoded, list):
            call.fail(INVALID_PARAMETER.with_message("(#100) attached_media must be an array"))
        raw.extend(decoded)
    index = 0
    while (item := call.param(f"attached_media[{index}]")) is not None:
        try:
            raw.append(json.loads(item))
        except ValueError:
            raw.append(None)
        index += 1
    ids: list[str] = []
    for position, item in enumerate(raw):
        fbid = str(item.get("media_fbid", "")) if isinstance(item, dict) else ""
        upload = call.sandbox.uploads.get(fbid)
        if upload is None or upload.page_id != page_id or upload.kind != "photo" or upload.published:
            call.fail(BAD_ATTACHMENT.with_message(BAD_ATTACHMENT.message.format(index=position)))
        ids.append(fbid)
    return ids


def _bool_param(call: GraphCall, name: str, default: bool) -> bool:
    raw = call.param(name)
    if raw is None:
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    return call.fail(INVALID_PARAMETER.with_message(f"(#100) Param {name} must be a boolean"))


def _publication(call: GraphCall) -> tuple[bool, int | None]:
    published = _bool_param(call, "published", True)
    if call.param("scheduled_publish_time") is None:
        return published, None
    if published:
        call.fail(SCHEDULED_PUBLISHED)
    return published, call.int_param("scheduled_publish_time", 0)


def _duplicate_of(call: GraphCall, page_id: str, message: str) -> str | None:
    """The post this message duplicates within the window (Meta: ``(#506) Duplicate status message``, no id)."""
    post_id = call.sandbox.duplicates.get((page_id, message))
    post = call.sandbox.state.posts.get(post_id) if post_id is not None else None
    if post is None or call.now - post.created_at > call.sandbox.config.duplicate_window:
        return None
    return post.id


def _store(
    call: GraphCall, page_id: str, message: str, *, link: str | None, published: bool, scheduled: int | None
) -> StoredPost:
    ledger = call.sandbox.state.posts
    number = ledger.next_number()
    data: dict[str, Any] = {"permalink_url": PERMALINK.format(page_id=page_id, number=number), "published": published}
    if link is not None:
        data["link"] = link
    if scheduled is not None:
        data["scheduled_publish_time"] = scheduled
    post = ledger.add(StoredPost(f"{page_id}_{number}", page_id, message, call.now, data))
    if message.strip():
        call.sandbox.duplicates[(page_id, message)] = post.id
    return post


def _view(post: StoredPost, fields: tuple[str, ...]) -> dict[str, Any]:
    values: dict[str, Any] = {
        "id": post.id,
        "message": post.text or None,
        "created_time": graph_time(post.created_at),
        "updated_time": graph_time(post.created_at),
        "permalink_url": post.data.get("permalink_url"),
        "is_published": post.data.get("published", True),
        "scheduled_publish_time": post.data.get("scheduled_publish_time"),
    }
    return {name: values[name] for name in fields if values[name] is not None}


def _sequence(post: StoredPost) -> int:
    return int(post.id.rpartition("_")[2])


def _cursor(post: StoredPost) -> str:
    return base64.urlsafe_b64encode(str(_sequence(post)).encode()).decode()


def _after(call: GraphCall) -> int | None:
    raw = call.param("after")
    if not raw:
        return None
    try:
        return int(base64.urlsafe_b64decode(raw.encode()).decode())
    except (ValueError, binascii.Error):
        return call.fail(INVALID_PARAMETER.with_message("(#100) The after cursor is invalid"))


def _time_param(call: GraphCall, name: str) -> dt.datetime | None:
    """``since`` / ``until``: unix seconds or ISO 8601."""
    raw = call.param(name)
    if not raw:
        return None
    try:
        if raw.isdigit():
            return dt.datetime.fromtimestamp(int(raw), tz=dt.UTC)
        moment = dt.datetime.fromisoformat(raw)
    except (ValueError, OverflowError):
        return call.fail(INVALID_PARAMETER.with_message(f"(#100) The parameter {name} is not a valid time"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


async def list_posts(call: GraphCall, node: str) -> Response:
    """Published Page posts, newest first, ``since``/``until``/``limit``/``after`` cursor paging."""
    page_id = resolve_node(call, node)
    fault = await take_fault(call, Operation.READ, page_id, page_id=page_id)
    caller = authenticate(call)
    headers = charge_page(call, caller, page_id, READ_SCOPE)
    fields = call.fields(POST_FIELDS, DEFAULT_POST_FIELDS, "PagePost")
    limit = min(max(call.int_param("limit", DEFAULT_LIMIT), 1), MAX_LIMIT)
    posts = _timeline(call, page_id)
    page = posts[:limit]
    body: dict[str, Any] = {"data": [_view(post, fields) for post in page]}
    if page:
        body["paging"] = {"cursors": {"before": _cursor(page[0]), "after": _cursor(page[-1])}}
        if len(posts) > limit:
            body["paging"]["next"] = str(call.request.url.include_query_params(after=_cursor(page[-1])))
    return await finish(call, fault, call.reply(body, headers=headers))


def _timeline(call: GraphCall, page_id: str) -> list[StoredPost]:
    since, until, after = _time_param(call, "since"), _time_param(call, "until"), _after(call)
    posts = [
        post
        for post in call.sandbox.state.posts.by_account(page_id, since=since)
        if post.data.get("published", True)
        and (until is None or post.created_at <= until)
        and (after is None or _sequence(post) < after)
    ]
    posts.sort(key=_sequence, reverse=True)
    return posts


async def get_node(call: GraphCall, node: str) -> Response:
    """``GET /{post-id}`` or ``GET /{page-id}`` / ``GET /me``."""
    fault = await take_fault(call, Operation.READ, None, page_id=None)
    caller = authenticate(call)
    node = caller.account if node == "me" else node
    post = call.sandbox.state.posts.get(node)
    if post is not None and _may_see(call, caller, post.account):
        fields = call.fields(POST_FIELDS, DEFAULT_POST_FIELDS, "PagePost")
        return await finish(call, fault, call.reply(_view(post, fields)))
    if post is None and (node == caller.account or _may_see(call, caller, node)):
        if "instagram_business_account" in (call.param("fields") or "") and not caller.has_scope("instagram_basic"):
            call.fail(NO_IG_PERMISSION)
        return await finish(call, fault, call.reply(_profile(call, node)))
    return call.fail(NO_SUCH_OBJECT.with_message(NO_SUCH_OBJECT.message.format(method="get", node=node)))


def _may_see(call: GraphCall, caller: Caller, page_id: str) -> bool:
    return caller.account == page_id or call.sandbox.directory.owner(page_id) == caller.account


def _profile(call: GraphCall, node: str) -> dict[str, Any]:
    directory = call.sandbox.directory
    if directory.is_user(node):
        user = directory.user(node)
        fields = call.fields(USER_FIELDS, ("name", "id"), "User")
        values: dict[str, Any] = {"id": user.id, "name": user.name}
    else:
        page = directory.page(node)
        nested = _nested_ig_fields(call)
        fields = call.fields(PAGE_FIELDS, ("name", "id"), "Page")
        values = {"id": page.id, "name": page.name, "category": page.category}
        if page.instagram is not None:
            linked = {"id": page.instagram.id, "username": page.instagram.username}
            values["instagram_business_account"] = {k: v for k, v in linked.items() if k == "id" or k in nested}
    return {name: values[name] for name in fields if name in values}  # no IG account linked: the field is absent


def _nested_ig_fields(call: GraphCall) -> set[str]:
    """Rewrite ``instagram_business_account{a,b}`` in ``fields`` to the plain name; return ``{a, b}``."""
    raw = call.param("fields")
    match = _IG_FIELD.search(raw or "")
    if raw is None or match is None:
        return set()
    call.params["fields"] = raw[: match.start()] + "instagram_business_account" + raw[match.end() :]
    wanted = {name.strip() for name in (match.group(2) or "").split(",") if name.strip()}
    unknown = wanted - {"id", "username"}
    if unknown:
        call.fail(NO_SUCH_FIELD.with_message(NO_SUCH_FIELD.message.format(field=sorted(unknown)[0], node="IGUser")))
    return wanted


async def delete_node(call: GraphCall, node: str) -> Response:
    """``DELETE /{post-id}`` → ``{"success": true}``."""
    caller = authenticate(call)
    post = call.sandbox.state.posts.get(node)
    if post is None or not _may_see(call, caller, post.account):
        call.fail(NO_SUCH_OBJECT.with_message(NO_SUCH_OBJECT.message.format(method="delete", node=node)))
    call.sandbox.state.posts.delete(node)
    return call.reply({"success": True})
