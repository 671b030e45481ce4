"""tweepy (the de-facto X SDK) against the X sandbox over real HTTP, changing nothing but the host.

tweepy hard-codes ``https://api.twitter.com``; a requests transport adapter mounted on the client's session
rewrites that prefix to the sandbox (docs/platforms.md, "Pointing the official SDKs at a sandbox"). OAuth 2.0 user
access tokens are used as ``bearer_token`` with ``user_auth=False``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import requests
import tweepy
from requests.adapters import HTTPAdapter

from herald.sandboxes.x.app import create_app
from herald.sandboxes.x.config import RateLimitRule, XSandboxConfig
from tests.support.servers import serve

TWITTER = "https://api.twitter.com"


class SandboxAdapter(HTTPAdapter):
    """Sends every ``https://api.twitter.com`` request to the sandbox instead."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        assert request.url is not None
        request.url = self.base_url + request.url.removeprefix(TWITTER)
        return super().send(request, *args, **kwargs)


@dataclass
class Sandbox:
    base_url: str
    control: httpx.Client

    def client(self, account: str = "sdk-user", **mint: Any) -> tweepy.Client:
        token = self.mint(account, **mint)["access_token"]
        return self.client_for(token)

    def client_for(self, bearer_token: str) -> tweepy.Client:
        client = tweepy.Client(bearer_token=bearer_token)
        client.session.mount(TWITTER, SandboxAdapter(self.base_url))
        return client

    def mint(self, account: str, **extra: Any) -> dict[str, Any]:
        response = self.control.post("/_sandbox/tokens", json={"account": account, **extra})
        response.raise_for_status()
        minted: dict[str, Any] = response.json()
        return minted

    def posts(self, account: str) -> list[dict[str, Any]]:
        posts: list[dict[str, Any]] = self.control.get("/_sandbox/posts", params={"account": account}).json()
        return posts


def served(config: XSandboxConfig | None = None) -> Iterator[Sandbox]:
    with serve(create_app(config)) as base_url, httpx.Client(base_url=base_url, timeout=10) as control:
        yield Sandbox(base_url, control)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    yield from served()


def test_create_tweet_returns_the_id_the_sandbox_stored(sandbox: Sandbox) -> None:
    client = sandbox.client()
    response = client.create_tweet(text="Hello from tweepy https://example.com/page", user_auth=False)
    stored = sandbox.posts("sdk-user")
    assert [p["id"] for p in stored] == [response.data["id"]]
    assert stored[0]["text"] == "Hello from tweepy https://example.com/page"
    assert response.data["text"].startswith("Hello from tweepy https://t.co/")
    assert response.data["edit_history_tweet_ids"] == [response.data["id"]]


def test_duplicate_raises_forbidden(sandbox: Sandbox) -> None:
    client = sandbox.client()
    client.create_tweet(text="Same words twice", user_auth=False)
    with pytest.raises(tweepy.Forbidden) as caught:
        client.create_tweet(text="Same words twice", user_auth=False)
    assert caught.value.api_messages == ["You are not allowed to create a Tweet with duplicate content."]
    assert len(sandbox.posts("sdk-user")) == 1


def test_rate_limit_fault_raises_too_many_requests_with_the_reset(sandbox: Sandbox) -> None:
    until = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(minutes=3)
    sandbox.control.post("/_sandbox/faults", json={"kind": "rate_limit", "until": until.isoformat()})
    with pytest.raises(tweepy.TooManyRequests) as caught:
        sandbox.client().create_tweet(text="Throttled", user_auth=False)
    assert caught.value.response.headers["x-rate-limit-reset"] == str(int(until.timestamp()))
    assert caught.value.response.headers["x-rate-limit-remaining"] == "0"
    assert sandbox.posts("sdk-user") == []


def test_enforced_window_raises_too_many_requests() -> None:
    config = XSandboxConfig(rate_limits={"tweets.create": RateLimitRule(limit=2, window_seconds=900)})
    for sandbox in served(config):
        client = sandbox.client()
        first = client.create_tweet(text="one", user_auth=False)
        second = client.create_tweet(text="two", user_auth=False)
        assert first.data["id"] != second.data["id"]
        with pytest.raises(tweepy.TooManyRequests) as caught:
            client.create_tweet(text="three", user_auth=False)
        assert caught.value.response.headers["x-rate-limit-limit"] == "2"
        assert len(sandbox.posts("sdk-user")) == 2


def test_get_me_and_users_tweets(sandbox: Sandbox) -> None:
    client = sandbox.client("timeline-user")
    me = client.get_me(user_auth=False)
    assert me.data.username == "timeline_user"
    ids = [client.create_tweet(text=f"post number {i}", user_auth=False).data["id"] for i in range(7)]
    page = client.get_users_tweets(me.data.id, max_results=5, tweet_fields=["created_at"], user_auth=False)
    assert [str(t.id) for t in page.data] == ids[::-1][:5]
    assert page.data[0].created_at is not None
    assert page.meta["result_count"] == 5
    rest = client.get_users_tweets(me.data.id, max_results=5, pagination_token=page.meta["next_token"], user_auth=False)
    assert [str(t.id) for t in rest.data] == ids[::-1][5:]
    assert "next_token" not in rest.meta


def test_reply_and_delete(sandbox: Sandbox) -> None:
    client = sandbox.client()
    first = client.create_tweet(text="Thread start", user_auth=False).data["id"]
    reply = client.create_tweet(text="Thread reply", in_reply_to_tweet_id=first, user_auth=False).data["id"]
    looked_up = client.get_tweet(reply, tweet_fields=["conversation_id", "referenced_tweets"], user_auth=False)
    assert str(looked_up.data.conversation_id) == first
    assert client.delete_tweet(reply, user_auth=False).data == {"deleted": True}
    assert [p["id"] for p in sandbox.posts("sdk-user")] == [first]


def test_expired_token_raises_unauthorized(sandbox: Sandbox) -> None:
    client = sandbox.client("expiring", expires_in=0)
    with pytest.raises(tweepy.Unauthorized):
        client.create_tweet(text="too late", user_auth=False)


def test_app_only_bearer_is_refused(sandbox: Sandbox) -> None:
    client = sandbox.client_for("sandbox-app-only-bearer")
    with pytest.raises(tweepy.Forbidden) as caught:
        client.create_tweet(text="as the app", user_auth=False)
    assert "Application-Only is forbidden" in str(caught.value)


def test_server_error_fault_raises_twitter_server_error(sandbox: Sandbox) -> None:
    sandbox.control.post("/_sandbox/faults", json={"kind": "error", "error": "service_unavailable"})
    with pytest.raises(tweepy.TwitterServerError):
        sandbox.client().create_tweet(text="down", user_auth=False)
