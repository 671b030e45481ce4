"""``/2/tweets``: create (``POST``), look up (``GET /2/tweets/:id``) and delete (``DELETE /2/tweets/:id``)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from herald.sandboxes.faults import AcceptThenFailMode, Fault, Operation
from herald.sandboxes.ledger import StoredPost
from herald.sandboxes.responses import accept_late, accept_then_fail
from herald.sandboxes.x import problems
from herald.sandboxes.x.accounts import XUser
from herald.sandboxes.x.length import judge
from herald.sandboxes.x.runtime import XReject, XSandbox
from herald.sandboxes.x.tco import rewrite
from herald.sandboxes.x.uploads import MediaRefused, Upload
from herald.sandboxes.x.views import TWEET_FIELDS, parse_fields, tweet_view

ID_BASE = 1_900_000_000_000_000_000  # ids are 19-digit strings, increasing with time like X's snowflakes

# CreatePostsRequest has additionalProperties:false (OpenAPI v2.167).
CREATE_FIELDS = frozenset(
    {
        "card_uri", "community_id", "direct_message_deep_link", "edit_options", "for_super_followers_only", "geo",
        "made_with_ai", "media", "nullcast", "paid_partnership", "poll", "quote_tweet_id", "reply",
        "reply_settings", "share_with_followers", "text",
    }
)  # fmt: skip
MEDIA_FIELDS = frozenset({"media_ids", "tagged_user_ids"})
REPLY_FIELDS = frozenset({"in_reply_to_tweet_id", "auto_populate_reply_metadata", "exclude_reply_user_ids"})


def tweets_router(sandbox: XSandbox) -> APIRouter:
    router = APIRouter(tags=["X: posts"])

    @router.post("/2/tweets")
    async def create_tweet(request: Request) -> Response:
        user = sandbox.authenticate(request, ("tweet.read", "tweet.write", "users.read"))
        sandbox.state.create_requests[user.account] += 1
        fault = await sandbox.take_fault(Operation.CREATE, user.account, "tweets.create")
        quota = sandbox.take_quota("tweets.create", user.id)
        daily = sandbox.take_quota("tweets.create.app24h", "app", window=quota)
        headers = sandbox.headers(quota, daily)
        try:
            text, reply_to, media = _validate(sandbox, user, await _json_body(request))
        except XReject as rejected:
            rejected.response.headers.update(headers)
            raise
        if fault is not None:  # an accept_then_fail fault: the post is stored (now, or late), the answer a failure
            unavailable = problems.problem(problems.SERVICE_UNAVAILABLE, 503, headers)
            if fault.mode is AcceptThenFailMode.LATE:
                return await accept_late(fault, lambda: _store(sandbox, user, text, reply_to, media), unavailable)
            _store(sandbox, user, text, reply_to, media)
            return await accept_then_fail(fault, unavailable)
        post = _store(sandbox, user, text, reply_to, media)
        location = f"{str(request.base_url).rstrip('/')}/2/tweets/{post.id}"
        body = {"data": tweet_view(post)}
        return problems.x_json(body, 201, {**headers, "location": location, "x-access-level": "read-write"})

    @router.get("/2/tweets/{tweet_id}")
    async def get_tweet(tweet_id: str, request: Request) -> Response:
        user = sandbox.authenticate(request, ("tweet.read", "users.read"))
        await _read_fault(sandbox, user)
        headers = sandbox.headers(sandbox.take_quota("tweets.lookup", user.id))
        fields, refused = parse_fields(request.query_params.get("tweet.fields"), TWEET_FIELDS)
        if refused:
            raise XReject(_refused_fields(refused, headers))
        post = sandbox.state.posts.get(tweet_id)
        if post is None:
            # Missing posts: 200 with a resource-not-found error;
            # https://docs.x.com/x-api/fundamentals/response-codes-and-errors also lists 404.
            return problems.x_json({"errors": [problems.not_found("tweet", "id", tweet_id)]}, 200, headers)
        return problems.x_json({"data": tweet_view(post, fields)}, 200, headers)

    @router.delete("/2/tweets/{tweet_id}")
    async def delete_tweet(tweet_id: str, request: Request) -> Response:
        user = sandbox.authenticate(request, ("tweet.read", "tweet.write", "users.read"))
        headers = sandbox.headers(sandbox.take_quota("tweets.delete", user.id))
        post = sandbox.state.posts.get(tweet_id)
        if post is not None and post.account != user.account:
            # X refuses deleting someone else's post with a 403
            # (https://docs.x.com/x-api/fundamentals/response-codes-and-errors); the wording is the sandbox's.
            body = {**problems.NOT_PERMITTED, "detail": "You are not allowed to delete this Tweet."}
            return problems.problem(body, 403, headers)
        deleted = post is not None and sandbox.state.posts.delete(tweet_id)
        return problems.x_json({"data": {"deleted": deleted}}, 200, headers)

    return router


async def _read_fault(sandbox: XSandbox, user: XUser) -> None:
    """Read calls take read faults; an accept_then_fail fault on a read is a plain 503."""
    fault: Fault | None = await sandbox.take_fault(Operation.READ, user.account, "tweets.lookup")
    if fault is not None:
        raise XReject(problems.problem(problems.SERVICE_UNAVAILABLE, 503))


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise XReject(problems.invalid_request("Request body is not valid JSON.")) from None
    if not isinstance(body, dict):
        raise XReject(problems.invalid_request("$: the request body must be a JSON object."))
    return body


def _validate(sandbox: XSandbox, user: XUser, body: dict[str, Any]) -> tuple[str, str | None, list[Upload]]:
    """Check a create body the way X does; returns the text, the post it replies to and the attached media."""
    _reject_unknown(body, CREATE_FIELDS, "$")
    text = body.get("text") or ""
    if not isinstance(text, str):
        raise XReject(problems.invalid_request("$.text: string found, but a string is required."))
    media = _media(sandbox, user, body.get("media"))
    if not text and not media:
        # A post needs text or media (https://docs.x.com/x-api/posts/manage-tweets/quickstart); the wording is the
        # sandbox's.
        raise XReject(problems.invalid_request("$.text: is missing but it is required"))
    _check_length(text, sandbox.max_length(user.account))
    if text and sandbox.duplicate_of(user.account, text) is not None:
        raise XReject(problems.problem(problems.DUPLICATE, 403))
    return text, _reply_target(sandbox, body.get("reply")), media


def _media(sandbox: XSandbox, user: XUser, media: Any) -> list[Upload]:
    """The uploads ``media.media_ids`` names: the caller's, processed and unexpired (``uploads.attachable``)."""
    if media is None:
        return []
    if not isinstance(media, dict):
        raise XReject(problems.invalid_request("$.media: object found, but an object is required."))
    _reject_unknown(media, MEDIA_FIELDS, "$.media")
    try:
        return sandbox.uploads.attachable(media.get("media_ids"), user.id)
    except MediaRefused as refused:
        raise XReject(problems.invalid_request(refused.message)) from None


def _reject_unknown(body: dict[str, Any], allowed: frozenset[str], path: str) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        # The shape (400 invalid-request, https://docs.x.com/x-api/fundamentals/response-codes-and-errors) is X's; the
        # validator's wording is the sandbox's.
        message = (
            f"{path}.{unknown[0]}: is not defined in the schema and the schema does not allow additional properties"
        )
        raise XReject(problems.invalid_request(message))


def _check_length(text: str, limit: int) -> None:
    counted = judge(text, limit)
    if counted.has_invalid_characters:
        raise XReject(problems.invalid_request("$.text: contains characters X does not accept (U+FFFE/FEFF/FFFF)."))
    if counted.weighted_length > limit:
        raise XReject(problems.problem(problems.TOO_LONG, 403))


def _reply_target(sandbox: XSandbox, reply: Any) -> str | None:
    if reply is None:
        return None
    if not isinstance(reply, dict) or not isinstance(reply.get("in_reply_to_tweet_id"), str):
        raise XReject(problems.invalid_request("$.reply.in_reply_to_tweet_id: is missing but it is required"))
    _reject_unknown(reply, REPLY_FIELDS, "$.reply")
    parent: str = reply["in_reply_to_tweet_id"]
    if sandbox.state.posts.get(parent) is None:
        raise XReject(problems.problem(problems.REPLY_NOT_VISIBLE, 403))
    return parent


def _store(sandbox: XSandbox, user: XUser, text: str, reply_to: str | None, media: list[Upload]) -> StoredPost:
    post_id = str(ID_BASE + sandbox.state.posts.next_number())
    display_text, urls = rewrite(text)
    data: dict[str, Any] = {"display_text": display_text, "author_id": user.id, "conversation_id": post_id}
    if urls:
        data["urls"] = urls
    if media:
        data["media_ids"] = [upload.id for upload in media]
        data["attachments"] = {"media_keys": [upload.media_key for upload in media]}
    if reply_to is not None:
        parent = sandbox.state.posts.get(reply_to)
        data["in_reply_to_tweet_id"] = reply_to
        if parent is not None:
            data["conversation_id"] = parent.data.get("conversation_id", parent.id)
            data["in_reply_to_user_id"] = parent.data.get("author_id")
    post = StoredPost(id=post_id, account=user.account, text=text, created_at=dt.datetime.now(dt.UTC), data=data)
    sandbox.state.posts.add(post)
    sandbox.recent_texts[(user.account, text)] = post
    return post


def _refused_fields(refused: list[str], headers: dict[str, str]) -> Response:
    allowed = ",".join(sorted(TWEET_FIELDS))
    response = problems.invalid_request(
        f"The `tweet.fields` query parameter value [{refused[0]}] is not one of [{allowed}]",
        {"tweet.fields": [",".join(refused)]},
    )
    response.headers.update(headers)
    return response
