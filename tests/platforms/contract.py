"""Platform adapter contract tests, written once and run against X, LinkedIn and Meta.

Each platform's test module defines a ``harness`` fixture returning a :class:`Harness` (its sandbox served over
real HTTP, a built :class:`PlatformKit`, a token for one sandbox account) and a test class that inherits
:class:`PlatformContract`. Platform-specific facts are data on the harness, not overridden tests.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from herald.platforms.base import (
    Account,
    ContentRuleViolation,
    Draft,
    ErrorClass,
    PlatformError,
    PlatformKit,
    RefreshError,
)


@dataclass
class Harness:
    kit: PlatformKit
    control: httpx.AsyncClient  # base_url = the sandbox; used for /_sandbox/* only
    account: Account  # what Herald publishes as
    sandbox_account: str  # the account name the sandbox's control API uses for it
    access_token: str
    fault_names: dict[str, str]  # "server_error", "rate_limited" -> the platform's error names
    expected_on_expired: ErrorClass
    expected_on_revoked: ErrorClass
    max_length: int
    reset_tolerance: dt.timedelta = dt.timedelta(seconds=2)
    redirect_uri: str = "http://127.0.0.1:9999/callback"
    extra: dict[str, str] = field(default_factory=dict)

    async def arm(self, **fault: object) -> None:
        fault.setdefault("account", self.sandbox_account)
        response = await self.control.post("/_sandbox/faults", json=fault)
        response.raise_for_status()

    async def published(self) -> list[dict[str, object]]:
        response = await self.control.get("/_sandbox/posts", params={"account": self.sandbox_account})
        response.raise_for_status()
        result: list[dict[str, object]] = response.json()
        return result


def unique_text(prefix: str = "Herald contract test") -> str:
    return f"{prefix} {uuid.uuid4().hex[:12]}"


class PlatformContract:
    """The behaviour every platform adapter must show against its sandbox."""

    async def test_publishes_a_text_post_once(self, harness: Harness) -> None:
        text = unique_text()
        post = harness.kit.rules.prepare(Draft(text=text))
        published = await harness.kit.client.publish(harness.account, harness.access_token, post)
        assert published.post_id
        stored = await harness.published()
        assert [p["id"] for p in stored if text in str(p["text"])] == [published.post_id]

    async def test_publishes_a_link_post(self, harness: Harness) -> None:
        link = f"https://example.com/articles/{uuid.uuid4().hex[:8]}"
        post = harness.kit.rules.prepare(Draft(text=unique_text("Read this"), link=link))
        published = await harness.kit.client.publish(harness.account, harness.access_token, post)
        stored = {str(p["id"]): p for p in await harness.published()}
        assert link in str(stored[published.post_id])

    async def test_second_identical_post_is_a_duplicate(self, harness: Harness) -> None:
        post = harness.kit.rules.prepare(Draft(text=unique_text()))
        first = await harness.kit.client.publish(harness.account, harness.access_token, post)
        with pytest.raises(PlatformError) as caught:
            await harness.kit.client.publish(harness.account, harness.access_token, post)
        assert caught.value.error_class is ErrorClass.DUPLICATE
        if caught.value.existing_post_id is not None:
            assert caught.value.existing_post_id == first.post_id

    async def test_server_error_on_create_is_an_unknown_outcome(self, harness: Harness) -> None:
        await harness.arm(kind="error", error=harness.fault_names["server_error"])
        post = harness.kit.rules.prepare(Draft(text=unique_text()))
        with pytest.raises(PlatformError) as caught:
            await harness.kit.client.publish(harness.account, harness.access_token, post)
        assert caught.value.error_class is ErrorClass.UNKNOWN_OUTCOME
        assert caught.value.http_status is not None
        assert caught.value.http_status >= 500

    async def test_rate_limit_is_retry_later_with_the_reset_hint(self, harness: Harness) -> None:
        until = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(minutes=7)
        await harness.arm(kind="rate_limit", until=until.isoformat())
        post = harness.kit.rules.prepare(Draft(text=unique_text()))
        with pytest.raises(PlatformError) as caught:
            await harness.kit.client.publish(harness.account, harness.access_token, post)
        assert caught.value.error_class is ErrorClass.RETRY_LATER
        assert caught.value.retry_at is not None
        assert abs(caught.value.retry_at - until) <= harness.reset_tolerance
        assert all(post.text not in str(p["text"]) for p in await harness.published())

    @pytest.mark.parametrize("mode", ["503", "drop", "timeout"])
    async def test_accepted_then_failed_create_is_unknown_and_found_by_read_back(
        self, harness: Harness, mode: str
    ) -> None:
        since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
        await harness.arm(kind="accept_then_fail", mode=mode, latency_ms=3000)
        post = harness.kit.rules.prepare(Draft(text=unique_text()))
        with pytest.raises(PlatformError) as caught:
            await harness.kit.client.publish(harness.account, harness.access_token, post)
        assert caught.value.error_class is ErrorClass.UNKNOWN_OUTCOME
        found = await harness.kit.client.find_published(harness.account, harness.access_token, post, since)
        assert found is not None
        stored = [p for p in await harness.published() if str(p["id"]) == found.post_id]
        assert len(stored) == 1

    async def test_read_back_does_not_find_what_was_never_posted(self, harness: Harness) -> None:
        since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        await harness.kit.client.publish(
            harness.account, harness.access_token, harness.kit.rules.prepare(Draft(text=unique_text()))
        )
        missing = harness.kit.rules.prepare(Draft(text=unique_text("never posted")))
        assert await harness.kit.client.find_published(harness.account, harness.access_token, missing, since) is None

    async def test_expired_token(self, harness: Harness) -> None:
        await harness.control.post(f"/_sandbox/accounts/{harness.sandbox_account}/expire")
        with pytest.raises(PlatformError) as caught:
            await harness.kit.client.publish(
                harness.account, harness.access_token, harness.kit.rules.prepare(Draft(text=unique_text()))
            )
        assert caught.value.error_class is harness.expected_on_expired
        assert harness.access_token not in str(caught.value) + caught.value.response_excerpt

    async def test_revoked_token(self, harness: Harness) -> None:
        await harness.control.post(f"/_sandbox/accounts/{harness.sandbox_account}/revoke")
        with pytest.raises(PlatformError) as caught:
            await harness.kit.client.publish(
                harness.account, harness.access_token, harness.kit.rules.prepare(Draft(text=unique_text()))
            )
        assert caught.value.error_class is harness.expected_on_revoked

    def test_over_long_text_is_refused_naming_the_rule_and_excess(self, harness: Harness) -> None:
        with pytest.raises(ContentRuleViolation) as caught:
            harness.kit.rules.prepare(Draft(text="a" * (harness.max_length + 7)))
        assert caught.value.limit == harness.max_length
        assert caught.value.actual is not None
        assert caught.value.actual > harness.max_length
        assert str(caught.value.actual - harness.max_length) in caught.value.message

    async def test_oauth_connect_flow(self, harness: Harness) -> None:
        oauth = harness.kit.oauth
        request = oauth.authorization_url(state="state-123", redirect_uri=harness.redirect_uri)
        consent = await harness.control.get(request.url, follow_redirects=False)
        assert consent.status_code in (302, 303, 307)
        location = urlsplit(consent.headers["location"])
        query = parse_qs(location.query)
        assert query["state"] == ["state-123"]
        tokens = await oauth.exchange_code(query["code"][0], harness.redirect_uri, request.code_verifier)
        assert tokens.access_token
        identities = await oauth.identities(tokens.access_token)
        assert identities
        assert all(i.platform_account_id for i in identities)

    async def test_refresh_with_a_dead_refresh_token_is_permanent(self, harness: Harness) -> None:
        with pytest.raises(RefreshError) as caught:
            await harness.kit.oauth.refresh("not-a-real-refresh-token")
        assert caught.value.permanent

    async def test_token_endpoint_outage_is_transient(self, harness: Harness) -> None:
        await harness.arm(kind="error", operation="token", account=None, error=harness.fault_names["server_error"])
        with pytest.raises(RefreshError) as caught:
            await harness.kit.oauth.refresh("whatever")
        assert not caught.value.permanent
