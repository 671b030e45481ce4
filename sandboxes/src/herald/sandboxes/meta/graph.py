"""The Graph API surface: one catch-all route resolving ``/{version?}/{node}/{edge?}`` to a handler.

Graph paths are dynamic (``/v25.0/{page-id}/feed``, ``/{post-id}``, ``/me/accounts``, unversioned calls), so a
small dispatcher on the path segments is simpler and faster than a route per shape.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from starlette.responses import Response

from herald.sandboxes.meta import instagram, login, media, posts
from herald.sandboxes.meta.auth import authenticate
from herald.sandboxes.meta.call import Abort, GraphCall, ParamsError, read_params
from herald.sandboxes.meta.config import VERSION_PATTERN
from herald.sandboxes.meta.errors import INVALID_PARAMETER, UNKNOWN_PATH
from herald.sandboxes.meta.state import MetaSandbox

Handler = Callable[[GraphCall], Awaitable[Response]]
NodeHandler = Callable[[GraphCall, str], Awaitable[Response]]


async def get_node(call: GraphCall, node: str) -> Response:
    """``GET /{id}``: an Instagram container, IG media or IG user, a Page photo or video, else a post / Page / user."""
    sandbox = call.sandbox
    container = sandbox.containers.get(node)
    ig_owner = container.ig_user_id if container is not None else None
    post = sandbox.state.posts.get(node)
    if post is not None and sandbox.directory.instagram(post.account) is not None:
        ig_owner = post.account
    elif sandbox.directory.instagram(node) is not None:
        ig_owner = node
    if ig_owner is not None:
        caller = authenticate(call)
        instagram.require_ig(call, caller, ig_owner, instagram.IG_READ_SCOPE)
        if container is not None:
            return instagram.container_view(call, container)
        if post is not None:
            return call.reply(instagram.media_view(post, call.fields(instagram.MEDIA_FIELDS, ("id",), "IGMedia")))
        return call.reply(instagram.ig_profile(call, node))
    upload = sandbox.uploads.get(node)
    if upload is not None:
        return media.upload_view(call, upload)
    return await posts.get_node(call, node)


# (method, path) for fixed paths; (method, edge) for /{node}/{edge}; (method, None) for /{node}.
FIXED: dict[tuple[str, tuple[str, ...]], Handler] = {
    ("GET", ("oauth", "access_token")): login.access_token,
    ("POST", ("oauth", "access_token")): login.access_token,
    ("GET", ("debug_token",)): login.debug_token,
    ("GET", ("me", "accounts")): login.accounts,
}
EDGES: dict[tuple[str, str | None], NodeHandler] = {
    ("POST", "feed"): posts.create_post,
    ("GET", "feed"): posts.list_posts,
    ("GET", "posts"): posts.list_posts,
    ("GET", "published_posts"): posts.list_posts,
    ("POST", "photos"): media.create_photo,
    ("POST", "videos"): media.create_video,
    ("POST", "media"): instagram.create_container,
    ("GET", "media"): instagram.list_media,
    ("POST", "media_publish"): instagram.publish,
    ("GET", "content_publishing_limit"): instagram.publishing_limit,
    ("GET", None): get_node,
    ("DELETE", None): posts.delete_node,
}


def graph_router(sandbox: MetaSandbox) -> APIRouter:
    """Mount last: it answers every path the other routers do not."""
    router = APIRouter(tags=["graph api"])

    @router.api_route("/{path:path}", methods=["GET", "POST", "DELETE"], include_in_schema=False)
    async def graph(path: str, request: Request) -> Response:
        segments = [s for s in path.split("/") if s]
        requested = segments[0] if segments and VERSION_PATTERN.match(segments[0]) else None
        version = sandbox.versions.serve(requested)
        call = GraphCall(
            sandbox, request, version or sandbox.versions.default, {}, segments[1:] if requested else segments
        )
        try:
            if version is None:
                call.fail(UNKNOWN_PATH.with_message(UNKNOWN_PATH.message.format(path="/" + path)))
            return await _dispatch(call)
        except Abort as abort:
            return abort.response

    return router


async def _dispatch(call: GraphCall) -> Response:
    try:
        call.params = await read_params(call.request)
    except ParamsError as error:
        call.fail(INVALID_PARAMETER.with_message(str(error)))
    method, segments = call.request.method, tuple(call.segments)
    fixed = FIXED.get((method, segments))
    if fixed is not None:
        return await fixed(call)
    if len(segments) in (1, 2):
        handler = EDGES.get((method, segments[1] if len(segments) == 2 else None))
        if handler is not None:
            return await handler(call, segments[0])
    return call.fail(UNKNOWN_PATH.with_message(UNKNOWN_PATH.message.format(path="/" + "/".join(segments))))
