"""``/2/users/me`` (identity) and ``/2/users/:id/tweets`` (an account's timeline, used for read-back)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass

from fastapi import APIRouter
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from herald.sandboxes.faults import Operation
from herald.sandboxes.ledger import StoredPost
from herald.sandboxes.x import problems
from herald.sandboxes.x.accounts import XUser
from herald.sandboxes.x.runtime import XReject, XSandbox
from herald.sandboxes.x.views import TWEET_FIELDS, USER_FIELDS, parse_fields, tweet_view

TIMELINE_PARAMS = frozenset(
    {
        "id", "since_id", "until_id", "max_results", "pagination_token", "exclude", "start_time", "end_time",
        "tweet.fields", "expansions", "media.fields", "poll.fields", "user.fields", "place.fields",
    }
)  # fmt: skip
EXCLUDABLE = frozenset({"replies", "retweets"})


@dataclass(frozen=True)
class TimelineQuery:
    max_results: int
    start_time: dt.datetime | None
    end_time: dt.datetime | None
    since_id: int | None
    until_id: int | None
    before_id: int | None  # from pagination_token
    exclude_replies: bool
    fields: frozenset[str]


def users_router(sandbox: XSandbox) -> APIRouter:
    router = APIRouter(tags=["X: users"])

    @router.get("/2/users/me")
    async def me(request: Request) -> Response:
        user = sandbox.authenticate(request, ("tweet.read", "users.read"))
        await _read_fault(sandbox, user, "users.me")
        headers = sandbox.headers(sandbox.take_quota("users.me", user.id))
        _, refused = parse_fields(request.query_params.get("user.fields"), USER_FIELDS)
        if refused:
            raise XReject(_with(problems.invalid_request(_not_one_of("user.fields", refused[0], USER_FIELDS)), headers))
        return problems.x_json({"data": user.public()}, 200, headers)

    @router.get("/2/users/{user_id}/tweets")
    async def timeline(user_id: str, request: Request) -> Response:
        user = sandbox.authenticate(request, ("tweet.read", "users.read"))
        await _read_fault(sandbox, user, "users.tweets")
        headers = sandbox.headers(sandbox.take_quota("users.tweets", user.id))
        try:
            query = _parse(request.query_params)
        except XReject as rejected:
            raise XReject(_with(rejected.response, headers)) from None
        owner = sandbox.users.by_id(user_id)
        if owner is None:
            return problems.x_json({"errors": [problems.not_found("user", "id", user_id)]}, 200, headers)
        posts = _select(sandbox.state.posts.by_account(owner.account, since=query.start_time), query)
        return problems.x_json(_page(posts, query), 200, headers)

    return router


async def _read_fault(sandbox: XSandbox, user: XUser, bucket: str) -> None:
    if await sandbox.take_fault(Operation.READ, user.account, bucket) is not None:
        raise XReject(problems.problem(problems.SERVICE_UNAVAILABLE, 503))


def _parse(params: QueryParams) -> TimelineQuery:
    unknown = sorted(set(params) - TIMELINE_PARAMS)
    if unknown:
        raise XReject(
            problems.invalid_request(
                f"The query parameter [{unknown[0]}] is not one of [{','.join(sorted(TIMELINE_PARAMS))}]",
                {unknown[0]: [params[unknown[0]]]},
            )
        )
    fields, refused = parse_fields(params.get("tweet.fields"), TWEET_FIELDS)
    if refused:
        raise XReject(problems.invalid_request(_not_one_of("tweet.fields", refused[0], TWEET_FIELDS)))
    excluded = {e for e in params.get("exclude", "").split(",") if e}
    if excluded - EXCLUDABLE:
        raise XReject(problems.invalid_request(_not_one_of("exclude", sorted(excluded - EXCLUDABLE)[0], EXCLUDABLE)))
    return TimelineQuery(
        max_results=_max_results(params.get("max_results")),
        start_time=_time(params, "start_time"),
        end_time=_time(params, "end_time"),
        since_id=_id(params, "since_id"),
        until_id=_id(params, "until_id"),
        before_id=_cursor(params.get("pagination_token")),
        exclude_replies="replies" in excluded,
        fields=fields,
    )


def _max_results(raw: str | None) -> int:
    if raw is None:
        return 10
    if not raw.isdigit() or not 5 <= int(raw) <= 100:
        raise XReject(
            problems.invalid_request(
                f"The `max_results` query parameter value [{raw}] is not between 5 and 100", {"max_results": [raw]}
            )
        )
    return int(raw)


def _time(params: QueryParams, name: str) -> dt.datetime | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        message = f"Invalid '{name}':'{raw}'. '{name}' must be a timestamp in the form YYYY-MM-DDTHH:mm:ssZ."
        raise XReject(problems.invalid_request(message, {name: [raw]}))
    return moment


def _id(params: QueryParams, name: str) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 19:
        raise XReject(
            problems.invalid_request(f"The `{name}` query parameter value [{raw}] is not a valid id", {name: [raw]})
        )
    return int(raw)


def _cursor(token: str | None) -> int | None:
    """Pagination tokens are opaque to clients; here they encode the last id of the previous page."""
    if token is None:
        return None
    try:
        return int(base64.b32decode(token.upper() + "=" * (-len(token) % 8)).decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        message = f"The `pagination_token` query parameter value [{token}] is not valid"
        raise XReject(problems.invalid_request(message, {"pagination_token": [token]})) from None


def _next_cursor(post_id: str) -> str:
    return base64.b32encode(post_id.encode()).decode().rstrip("=").lower()


def _select(posts: list[StoredPost], query: TimelineQuery) -> list[StoredPost]:
    def keep(post: StoredPost) -> bool:
        number = int(post.id)
        return not (
            (query.end_time is not None and post.created_at > query.end_time)
            or (query.since_id is not None and number <= query.since_id)
            or (query.until_id is not None and number >= query.until_id)
            or (query.before_id is not None and number >= query.before_id)
            or (query.exclude_replies and "in_reply_to_tweet_id" in post.data)
        )

    return [post for post in posts if keep(post)]


def _page(posts: list[StoredPost], query: TimelineQuery) -> dict[str, object]:
    """One page, newest first, with X's ``meta`` (``next_token`` only when there is more)."""
    page = posts[: query.max_results]
    if not page:
        return {"meta": {"result_count": 0}}
    meta: dict[str, object] = {"result_count": len(page), "newest_id": page[0].id, "oldest_id": page[-1].id}
    if len(posts) > len(page):
        meta["next_token"] = _next_cursor(page[-1].id)
    return {"data": [tweet_view(post, query.fields) for post in page], "meta": meta}


def _not_one_of(parameter: str, value: str, allowed: frozenset[str]) -> str:
    return f"The `{parameter}` query parameter value [{value}] is not one of [{','.join(sorted(allowed))}]"


def _with(response: Response, headers: dict[str, str]) -> Response:
    response.headers.update(headers)
    return response
