"""Instagram content publishing (Instagram API with Facebook Login, on the Graph host).

https://developers.facebook.com/docs/instagram-platform/content-publishing:

* ``POST /{ig-user-id}/media``: a container from ``image_url`` (JPEG only), ``media_type=REELS`` + ``video_url``, a
  carousel item (``is_carousel_item=true``, ``image_url`` or ``media_type=VIDEO`` + ``video_url``) or
  ``media_type=CAROUSEL`` + ``children`` (2 to 10 container ids); ``caption``, ``alt_text`` (images) → ``{"id"}``.
  The sandbox really downloads the URL (httpx) in the background: a failed fetch or an image that is not a JPEG
  turns the container to ``ERROR``.
* ``GET /{container-id}?fields=status_code,status``: ``IN_PROGRESS`` → ``FINISHED`` after ``config.container_delay``;
  ``EXPIRED`` after ``config.container_ttl``; ``ERROR`` / ``EXPIRED`` can be forced on the next containers
  (``POST /_sandbox/meta/containers/faults``) or on one (``POST /_sandbox/meta/containers/{id}/expire``).
* ``POST /{ig-user-id}/media_publish`` with ``creation_id`` → ``{"id": "<ig media id>"}``; over the publishing limit
  → code 9, subcode 2207042; a container not FINISHED → 9007 / 2207027.
* ``GET /{ig-user-id}/content_publishing_limit?fields=quota_usage,config`` →
  ``{"data": [{"quota_usage": n, "config": {"quota_total": 100, "quota_duration": 86400}}]}``.
* ``GET /{ig-user-id}/media``: published media, newest first (``caption``, ``timestamp``, ``media_type``,
  ``permalink``), cursor paging; ``GET /{ig-media-id}``.

Tokens: the linked Page's token, or its owner's user token; scoped tokens need ``instagram_content_publish`` to
publish and ``instagram_basic`` to read.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import hashlib
import json
from typing import Any

from starlette.responses import Response

from herald.sandboxes.faults import Operation
from herald.sandboxes.ledger import StoredPost
from herald.sandboxes.meta.auth import Caller, authenticate
from herald.sandboxes.meta.call import GraphCall
from herald.sandboxes.meta.errors import INVALID_PARAMETER, NO_SUCH_OBJECT, PERMISSION_DENIED, ErrorSpec
from herald.sandboxes.meta.injection import finish, take_fault
from herald.sandboxes.meta.media import download, is_jpeg, is_video
from herald.sandboxes.meta.media_state import Container, ContainerStatus
from herald.sandboxes.meta.posts import graph_time
from herald.sandboxes.meta.state import MetaSandbox

IG_PUBLISH_SCOPE = "instagram_content_publish"
IG_READ_SCOPE = "instagram_basic"
CAROUSEL_MIN, CAROUSEL_MAX = 2, 10
CAPTION_LIMIT = 2_200
PERMALINK = "https://www.instagram.com/p/{code}/"
MEDIA_FIELDS = frozenset(
    {"id", "caption", "media_type", "media_product_type", "permalink", "timestamp", "username", "shortcode"}
)
CONTAINER_FIELDS = frozenset({"id", "status", "status_code"})
DEFAULT_LIMIT, MAX_LIMIT = 25, 100

# https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/error-codes (codes and
# subcodes); the message texts are the sandbox's wording unless the page gives them.
PUBLISH_LIMIT = ErrorSpec(
    9, "Application request limit reached: the maximum number of posts within 24 hours was published", subcode=2207042
)
NOT_READY = ErrorSpec(9007, "Media ID is not available: the media is not ready for publishing", subcode=2207027)
EXPIRED_MEDIA = ErrorSpec(
    -2, "The media you are trying to access has expired. Please try to upload again.", subcode=2207020
)
ALREADY_PUBLISHED = ErrorSpec(9007, "Media ID is not available: the container was already published", subcode=2207027)
CAPTION_TOO_LONG = ErrorSpec(100, "(#100) The caption is too long (at most 2200 characters)")
DOWNLOAD_FAILED = "Error: Media download has failed. The media URI doesn't meet our requirements. ({reason})"
NOT_JPEG = "Error: Unsupported image format. Only JPEG images are supported."
NOT_VIDEO = "Error: Unsupported video format. The video could not be processed."
INJECTED_ERROR = "Error: Instagram server error (injected by the sandbox)."


def require_ig(call: GraphCall, caller: Caller, ig_user_id: str, scope: str) -> str:
    """The linked Page of ``ig_user_id`` when the caller may act on it (Page token or the Page owner's token)."""
    found = call.sandbox.directory.instagram(ig_user_id)
    if found is None:
        call.fail(NO_SUCH_OBJECT.with_message(NO_SUCH_OBJECT.message.format(method="post", node=ig_user_id)))
    _, page_id = found
    allowed = caller.account == page_id or call.sandbox.directory.owner(page_id) == caller.account
    if not allowed or not caller.has_scope(scope):
        call.fail(PERMISSION_DENIED)
    return page_id


def _flag(call: GraphCall, name: str) -> bool:
    return (call.param(name) or "").lower() in ("true", "1")


async def create_container(call: GraphCall, ig_user_id: str) -> Response:
    """``POST /{ig-user-id}/media`` → ``{"id": "<container id>"}``; the download runs in the background."""
    sandbox = call.sandbox
    sandbox.media_requests[f"{ig_user_id}/media"] += 1
    fault = await take_fault(call, Operation.READ, ig_user_id, page_id=None)
    caller = authenticate(call)
    require_ig(call, caller, ig_user_id, IG_PUBLISH_SCOPE)
    caption = call.param("caption") or ""
    if len(caption) > CAPTION_LIMIT:
        call.fail(CAPTION_TOO_LONG)
    media_type = (call.param("media_type") or "IMAGE").upper()
    carousel_item = _flag(call, "is_carousel_item")
    container = Container(
        id=str(sandbox.state.posts.next_number()),
        ig_user_id=ig_user_id,
        media_type=media_type,
        caption=caption,
        created_at=call.now,
        ready_at=call.now + sandbox.config.container_delay,
        is_carousel_item=carousel_item,
        alt_text=call.param("alt_text"),
    )
    if media_type == "CAROUSEL":
        container.children = _children(call, ig_user_id)
        container.downloaded = True
    elif media_type == "IMAGE":
        container.url = _required(call, "image_url")
    elif media_type in ("REELS", "VIDEO"):
        if media_type == "VIDEO" and not carousel_item:
            call.fail(INVALID_PARAMETER.with_message("(#100) media_type VIDEO is only for carousel items; use REELS"))
        container.url = _required(call, "video_url")
    else:
        call.fail(INVALID_PARAMETER.with_message("(#100) Param media_type must be one of IMAGE, REELS, CAROUSEL"))
    if sandbox.container_faults:
        container.forced = ContainerStatus(sandbox.container_faults.popleft())
        if container.forced is ContainerStatus.ERROR:
            container.error = INJECTED_ERROR
    sandbox.containers[container.id] = container
    if container.url is not None:
        task = asyncio.create_task(_fetch(sandbox, container))
        sandbox.downloads.add(task)
        task.add_done_callback(sandbox.downloads.discard)
    return await finish(call, fault, call.reply({"id": container.id}))


def _required(call: GraphCall, name: str) -> str:
    value = call.param(name)
    if not value:
        call.fail(INVALID_PARAMETER.with_message(f"(#100) The parameter {name} is required"))
    return value


def _children(call: GraphCall, ig_user_id: str) -> tuple[str, ...]:
    raw = call.param("children") or ""
    try:  # a comma-separated list, or a JSON array (what the SDKs send for list<string>)
        decoded = json.loads(raw) if raw.startswith("[") else None
    except ValueError:
        decoded = None
    parts = [str(part) for part in decoded] if isinstance(decoded, list) else raw.split(",")
    ids = tuple(part.strip() for part in parts if part.strip())
    if not CAROUSEL_MIN <= len(ids) <= CAROUSEL_MAX:
        call.fail(INVALID_PARAMETER.with_message("(#100) A carousel needs 2 to 10 children"))
    for child_id in ids:
        child = call.sandbox.containers.get(child_id)
        if child is None or child.ig_user_id != ig_user_id or not child.is_carousel_item:
            call.fail(INVALID_PARAMETER.with_message(f"(#100) Child {child_id} is not a carousel item container"))
    return ids


async def _fetch(sandbox: MetaSandbox, container: Container) -> None:
    """Download the container's media as Instagram does (it cURLs the URL) and check what came back."""
    assert container.url is not None
    try:
        data = await download(container.url, sandbox.config.fetch_timeout_seconds)
    except ValueError as exc:
        container.error = container.error or DOWNLOAD_FAILED.format(reason=exc)
        return
    if container.media_type == "IMAGE" and not is_jpeg(data):
        container.error = container.error or NOT_JPEG
    elif container.media_type in ("REELS", "VIDEO") and not is_video(data):
        container.error = container.error or NOT_VIDEO
    container.size = len(data)
    container.sha256 = hashlib.sha256(data).hexdigest()
    container.downloaded = True


def status_of(sandbox: MetaSandbox, container: Container, now: dt.datetime) -> ContainerStatus:
    children = [sandbox.containers[child] for child in container.children if child in sandbox.containers]
    return container.status(now, sandbox.config.container_ttl, children)


def container_view(call: GraphCall, container: Container) -> Response:
    """``GET /{container-id}`` (``status_code``, ``status``)."""
    fields = call.fields(CONTAINER_FIELDS, ("id",), "ShadowIGMediaBuilder")
    status = status_of(call.sandbox, container, call.now)
    text = container.status_text(status)
    if status is ContainerStatus.ERROR and container.error is None:  # a carousel: say which child failed and why
        failed = [c for c in map(call.sandbox.containers.get, container.children) if c is not None and c.error]
        text = f"{failed[0].error} (carousel item {failed[0].id})" if failed else text
    values = {"id": container.id, "status_code": status.value, "status": text}
    return call.reply({name: values[name] for name in fields})


def _quota_usage(sandbox: MetaSandbox, ig_user_id: str, now: dt.datetime) -> int:
    window = sandbox.config.publishing_window
    recent = [moment for moment in sandbox.ig_publishes.get(ig_user_id, []) if now - moment < window]
    sandbox.ig_publishes[ig_user_id] = recent
    return len(recent)


async def publish(call: GraphCall, ig_user_id: str) -> Response:
    """``POST /{ig-user-id}/media_publish`` with ``creation_id`` → ``{"id": "<ig media id>"}``."""
    sandbox = call.sandbox
    sandbox.media_requests[f"{ig_user_id}/media_publish"] += 1
    fault = await take_fault(call, Operation.CREATE, ig_user_id, page_id=None)
    caller = authenticate(call)
    require_ig(call, caller, ig_user_id, IG_PUBLISH_SCOPE)
    container = sandbox.containers.get(_required(call, "creation_id"))
    if container is None or container.ig_user_id != ig_user_id or container.is_carousel_item:
        call.fail(INVALID_PARAMETER.with_message("(#100) Param creation_id is not a container of this account"))
    status = status_of(sandbox, container, call.now)
    if status is ContainerStatus.PUBLISHED:
        call.fail(ALREADY_PUBLISHED)
    if status is ContainerStatus.EXPIRED:
        call.fail(EXPIRED_MEDIA)
    if status is not ContainerStatus.FINISHED:
        call.fail(NOT_READY)
    if _quota_usage(sandbox, ig_user_id, call.now) >= sandbox.config.publishing_limit:
        call.fail(PUBLISH_LIMIT)
    number = sandbox.state.posts.next_number()
    code = base64.urlsafe_b64encode(str(number).encode()).decode().rstrip("=")
    data = {
        "media_type": "CAROUSEL_ALBUM" if container.media_type == "CAROUSEL" else _published_type(container),
        "media_product_type": "REELS" if container.media_type == "REELS" else "FEED",
        "permalink": PERMALINK.format(code=code),
        "shortcode": code,
        "container_id": container.id,
        "children": list(container.children),
    }
    media = sandbox.state.posts.add(StoredPost(str(number), ig_user_id, container.caption, call.now, data))
    container.published_media_id = media.id
    sandbox.ig_publishes.setdefault(ig_user_id, []).append(call.now)
    return await finish(call, fault, call.reply({"id": media.id}))


def _published_type(container: Container) -> str:
    return "VIDEO" if container.media_type in ("REELS", "VIDEO") else "IMAGE"


async def publishing_limit(call: GraphCall, ig_user_id: str) -> Response:
    """``GET /{ig-user-id}/content_publishing_limit`` (``quota_usage`` by default; ``config`` on request)."""
    sandbox = call.sandbox
    fault = await take_fault(call, Operation.READ, ig_user_id, page_id=None)
    caller = authenticate(call)
    require_ig(call, caller, ig_user_id, IG_READ_SCOPE)
    fields = call.fields(frozenset({"quota_usage", "config"}), ("quota_usage",), "ContentPublishingLimitResponse")
    config = {
        "quota_total": sandbox.config.publishing_limit,
        "quota_duration": int(sandbox.config.publishing_window.total_seconds()),
    }
    values = {"quota_usage": _quota_usage(sandbox, ig_user_id, call.now), "config": config}
    return await finish(call, fault, call.reply({"data": [{name: values[name] for name in fields if name in values}]}))


def media_view(post: StoredPost, fields: tuple[str, ...]) -> dict[str, Any]:
    values: dict[str, Any] = {
        "id": post.id,
        "caption": post.text or None,
        "timestamp": graph_time(post.created_at),
        **{name: post.data.get(name) for name in ("media_type", "media_product_type", "permalink", "shortcode")},
    }
    return {name: values[name] for name in fields if values.get(name) is not None}


async def list_media(call: GraphCall, ig_user_id: str) -> Response:
    """``GET /{ig-user-id}/media``: published media, newest first, ``limit`` + ``after`` cursor paging."""
    fault = await take_fault(call, Operation.READ, ig_user_id, page_id=None)
    caller = authenticate(call)
    require_ig(call, caller, ig_user_id, IG_READ_SCOPE)
    fields = call.fields(MEDIA_FIELDS, ("id",), "IGMedia")
    limit = min(max(call.int_param("limit", DEFAULT_LIMIT), 1), MAX_LIMIT)
    posts = sorted(call.sandbox.state.posts.by_account(ig_user_id), key=lambda p: int(p.id), reverse=True)
    after = _after(call)
    if after is not None:
        posts = [post for post in posts if int(post.id) < after]
    page = posts[:limit]
    body: dict[str, Any] = {"data": [media_view(post, fields) for post in page]}
    if page:
        cursors = {"before": _cursor(page[0].id), "after": _cursor(page[-1].id)}
        body["paging"] = {"cursors": cursors}
        if len(posts) > limit:
            body["paging"]["next"] = str(call.request.url.include_query_params(after=_cursor(page[-1].id)))
    return await finish(call, fault, call.reply(body))


def _cursor(media_id: str) -> str:
    return base64.urlsafe_b64encode(media_id.encode()).decode()


def _after(call: GraphCall) -> int | None:
    raw = call.param("after")
    if not raw:
        return None
    try:
        return int(base64.urlsafe_b64decode(raw.encode()).decode())
    except (ValueError, binascii.Error):
        return call.fail(INVALID_PARAMETER.with_message("(#100) The after cursor is invalid"))


def ig_profile(call: GraphCall, ig_user_id: str) -> dict[str, Any]:
    """``GET /{ig-user-id}`` (``id``, ``username``)."""
    found = call.sandbox.directory.instagram(ig_user_id)
    if found is None:
        call.fail(NO_SUCH_OBJECT.with_message(NO_SUCH_OBJECT.message.format(method="get", node=ig_user_id)))
    account, _ = found
    fields = call.fields(frozenset({"id", "username", "name"}), ("id",), "IGUser")
    values = {"id": account.id, "username": account.username, "name": account.username}
    return {name: values[name] for name in fields}
