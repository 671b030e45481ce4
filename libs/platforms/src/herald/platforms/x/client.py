"""Publishing to X (``POST /2/tweets``) and reading an account's posts back (``GET /2/users/:id/tweets``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import httpx

from herald.contracts.platform import Platform
from herald.platforms.base import (
    Account,
    ErrorClass,
    MediaContext,
    PlatformClient,
    PlatformError,
    PreparedPost,
    PublishedPost,
)
from herald.platforms.x.errors import Call, classify, excerpt, transport_error
from herald.platforms.x.matching import same_post
from herald.platforms.x.media import XMediaUploader, is_stale_media_refusal
from herald.platforms.x.settings import XSettings

TIMELINE_PAGE_SIZE = 100


@dataclass(frozen=True)
class _Tweet:
    id: str
    text: str
    created_at: dt.datetime | None


class XClient(PlatformClient):
    """X adapter over one shared ``httpx.AsyncClient``, with OAuth 2.0 user access tokens (Bearer)."""

    platform = Platform.X

    def __init__(self, settings: XSettings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http
        self.media = XMediaUploader(settings, self._send)

    async def publish(
        self, account: Account, access_token: str, post: PreparedPost, media: MediaContext | None = None
    ) -> PublishedPost:
        """Create the post; a thread is part 1, then each next part as a reply to the previous one.

        If a later part of a thread fails, the error is reported as ``UNKNOWN_OUTCOME`` (part 1 exists): the
        pipeline reconciles with :meth:`find_published`, which reports the parts that were published.

        Media (``post.media``) is uploaded first (:mod:`herald.platforms.x.media`) and attached to the first part. If X
        refuses the create because a media id died meanwhile (400, nothing was created), the media is uploaded
        again and the create sent once more.
        """
        ids: list[str] = []
        media_ids = await self._upload(post, media, access_token)
        for part in post.parts:
            try:
                if ids:
                    ids.append(await self._create(access_token, part, reply_to=ids[-1]))
                else:
                    ids.append(await self._create_first(access_token, part, post, media, media_ids))
            except PlatformError as error:
                if not ids:
                    raise
                raise _partial_thread(error, ids, len(post.parts)) from error
        return PublishedPost(
            post_id=ids[0],
            url=self.post_url(ids[0]),
            published_at=dt.datetime.now(dt.UTC),
            thread_ids=tuple(ids) if len(ids) > 1 else (),
        )

    async def find_published(
        self, account: Account, access_token: str, post: PreparedPost, since: dt.datetime
    ) -> PublishedPost | None:
        """Search the account's timeline since ``since`` (less a clock-skew margin) for the post's first part."""
        start = since - dt.timedelta(seconds=self.settings.read_back_skew_seconds)
        tweets = await self._timeline(account.platform_account_id, access_token, start)
        oldest_first = list(reversed(tweets))
        first = next((t for t in oldest_first if same_post(post.parts[0], t.text)), None)
        if first is None:
            return None
        ids = [first.id, *_later_parts(post.parts[1:], oldest_first, after=first)]
        return PublishedPost(
            post_id=first.id,
            url=self.post_url(first.id),
            published_at=first.created_at,
            thread_ids=tuple(ids) if len(post.parts) > 1 else (),
        )

    def post_url(self, post_id: str) -> str:
        return self.settings.post_url_template.format(id=post_id)

    async def _upload(self, post: PreparedPost, media: MediaContext | None, access_token: str) -> list[str]:
        if not post.media:
            return []
        if media is None:
            raise PlatformError(
                ErrorClass.CONFIGURATION, "X publish: the post has media but no media context was given"
            )
        return await self.media.upload_all(post.media, media, access_token)

    async def _create_first(
        self, access_token: str, text: str, post: PreparedPost, media: MediaContext | None, media_ids: list[str]
    ) -> str:
        try:
            return await self._create(access_token, text, reply_to=None, media_ids=media_ids)
        except _StaleMediaIds:
            assert media is not None  # media ids only come with a context
            await self.media.forget(post.media, media)
            fresh = await self.media.upload_all(post.media, media, access_token)
            try:
                return await self._create(access_token, text, reply_to=None, media_ids=fresh)
            except _StaleMediaIds as again:
                raise again.error from None

    async def _create(
        self, access_token: str, text: str, reply_to: str | None, media_ids: list[str] | None = None
    ) -> str:
        body: dict[str, Any] = {"text": text}
        if reply_to is not None:
            body["reply"] = {"in_reply_to_tweet_id": reply_to}
        if media_ids:
            body["media"] = {"media_ids": media_ids}
        response = await self._send("POST", "tweets", access_token, Call.CREATE, json=body)
        if response.status_code not in (200, 201):
            error = classify(response, Call.CREATE, secrets=[access_token])
            if media_ids and is_stale_media_refusal(response):
                raise _StaleMediaIds(error)
            raise error
        return _created_id(response, access_token)

    async def _timeline(self, user_id: str, access_token: str, start: dt.datetime) -> list[_Tweet]:
        """Every post since ``start``, newest first, following ``next_token`` pages."""
        params: dict[str, str] = {
            "start_time": start.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "max_results": str(TIMELINE_PAGE_SIZE),
            "tweet.fields": "created_at",
        }
        tweets: list[_Tweet] = []
        for _ in range(self.settings.read_back_max_pages):
            response = await self._send("GET", f"users/{user_id}/tweets", access_token, Call.READ, params=params)
            if response.status_code != 200:
                raise classify(response, Call.READ, secrets=[access_token])
            page = _json(response)
            if "meta" not in page:
                raise PlatformError(
                    ErrorClass.RETRY_LATER,
                    "X read-back: timeline answer without meta; cannot tell if the post exists",
                    http_status=response.status_code,
                    response_excerpt=excerpt(response, [access_token]),
                )
            tweets += [_tweet(item) for item in page.get("data") or [] if isinstance(item, dict)]
            next_token = (page.get("meta") or {}).get("next_token")
            if not next_token:
                return tweets
            params["pagination_token"] = str(next_token)
        raise PlatformError(
            ErrorClass.RETRY_LATER,
            f"X read-back: more than {len(tweets)} posts since {start.isoformat()}; cannot tell if the post exists",
        )

    async def _send(self, method: str, path: str, access_token: str, call: Call, **kwargs: Any) -> httpx.Response:
        try:
            return await self.http.request(
                method,
                self.settings.api_url(path),
                headers={"Authorization": f"Bearer {access_token}"},
                timeout=self.settings.timeout_seconds,
                **kwargs,
            )
        except httpx.HTTPError as error:
            raise transport_error(error, call) from None


class _StaleMediaIds(Exception):
    """X refused a create for its media ids (nothing was created): upload again and resend once."""

    def __init__(self, error: PlatformError) -> None:
        super().__init__(error.message)
        self.error = error


def _created_id(response: httpx.Response, access_token: str) -> str:
    """The new post id from ``{"data":{"id":...}}``. A 2xx without one may still have created the post."""
    body = _json(response)
    data = body.get("data")
    post_id = data.get("id") if isinstance(data, dict) else None
    if isinstance(post_id, str) and post_id.isdigit():
        return post_id
    error_class = ErrorClass.PERMANENT if body.get("errors") and data is None else ErrorClass.UNKNOWN_OUTCOME
    raise PlatformError(
        error_class,
        f"X answered {response.status_code} without a post id",
        http_status=response.status_code,
        response_excerpt=excerpt(response, [access_token]),
    )


def _partial_thread(error: PlatformError, ids: list[str], total: int) -> PlatformError:
    return PlatformError(
        ErrorClass.UNKNOWN_OUTCOME,
        f"X thread partly published ({len(ids)} of {total} parts, first {ids[0]}): {error.message}",
        http_status=error.http_status,
        platform_code=error.platform_code,
        retry_at=error.retry_at,
        response_excerpt=error.response_excerpt,
    )


def _later_parts(parts: tuple[str, ...], oldest_first: list[_Tweet], after: _Tweet) -> list[str]:
    """Ids of the thread's later parts, in order, each posted after the previous one."""
    ids: list[str] = []
    remaining = oldest_first[oldest_first.index(after) + 1 :]
    for part in parts:
        found = next((i for i, t in enumerate(remaining) if same_post(part, t.text)), None)
        if found is None:
            break
        ids.append(remaining[found].id)
        remaining = remaining[found + 1 :]
    return ids


def _tweet(item: dict[str, Any]) -> _Tweet:
    created = item.get("created_at")
    created_at = dt.datetime.fromisoformat(created.replace("Z", "+00:00")) if isinstance(created, str) else None
    return _Tweet(id=str(item.get("id", "")), text=str(item.get("text", "")), created_at=created_at)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
