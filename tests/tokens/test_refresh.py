"""The internal API: caller authorization, single-flight refresh across replicas, rotation, failures."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import uuid
from typing import Any

import httpx
import pytest

from herald.contracts.platform import Platform
from herald.kit.auth import ApiKeyStore
from tests.support.eventually import eventually
from tests.support.servers import reserve_port
from tests.tokens.conftest import KEY_1, EventLog, Harness, events_settled, ring, start_service


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _connected(harness: Harness, platform: Platform = Platform.X) -> tuple[str, dict[str, Any]]:
    name = f"acct{uuid.uuid4().hex[:10]}"
    _, team = await harness.team()
    return name, (await harness.connect(platform, team, name))[0]


# -- who may ask ------------------------------------------------------------------------------------------------


async def test_no_or_unknown_credential_is_401(harness: Harness) -> None:
    _, account = await _connected(harness)
    url = f"{harness.url}/internal/v1/accounts/{account['id']}/access-token"
    assert (await harness.client.get(url)).status_code == 401
    forged = {"Authorization": "Bearer svc_publisher-x_" + "A" * 43}
    assert (await harness.client.get(url, headers=forged)).status_code == 401
    team_key = (await harness.team())[1]
    assert (await harness.client.get(url, headers=team_key)).status_code == 401


async def test_a_publisher_reads_only_its_own_platform(harness: Harness) -> None:
    _, account = await _connected(harness, Platform.X)
    url = f"{harness.url}/internal/v1/accounts/{account['id']}"
    wrong = harness.service(Platform.LINKEDIN)
    assert (await harness.client.get(f"{url}/access-token", headers=wrong)).status_code == 403
    assert (await harness.client.post(f"{url}/refresh", headers=wrong, json={})).status_code == 403
    right = await harness.client.get(f"{url}/access-token", headers=harness.service(Platform.X))
    assert right.status_code == 200
    assert set(right.json()) == {
        "account_id",
        "team_id",
        "platform",
        "platform_account_id",
        "surface",
        "access_token",
        "expires_at",
    }


async def test_unknown_account_is_404(harness: Harness) -> None:
    response = await harness.access_token(str(uuid.uuid4()), Platform.X)
    assert response.status_code == 404


async def test_malformed_rejected_hash_is_422(harness: Harness) -> None:
    _, account = await _connected(harness)
    response = await harness.client.post(
        f"{harness.url}/internal/v1/accounts/{account['id']}/refresh",
        headers=harness.service(Platform.X),
        json={"rejected_access_token_sha256": "not-a-hash"},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "rejected_access_token_sha256"]


# -- refreshing ---------------------------------------------------------------------------------------------------


async def test_a_fresh_token_is_handed_out_without_refreshing(harness: Harness) -> None:
    name, account = await _connected(harness)
    before = await harness.sandboxes.token_requests(Platform.X, name)
    first = await harness.access_token(account["id"], Platform.X)
    second = await harness.access_token(account["id"], Platform.X)
    assert first.json()["access_token"] == second.json()["access_token"]
    assert await harness.sandboxes.token_requests(Platform.X, name) == before


async def test_a_token_expiring_within_the_skew_is_refreshed_first(harness: Harness, event_log: EventLog) -> None:
    name, account = await _connected(harness)
    old = (await harness.access_token(account["id"], Platform.X)).json()["access_token"]
    await harness.expire(account["id"], seconds_from_now=120)  # inside the 5-minute skew

    fresh = await harness.client.get(
        f"{harness.url}/internal/v1/accounts/{account['id']}/access-token",
        headers={**harness.service(Platform.X), "X-Correlation-Id": "distribution-42"},
    )

    assert fresh.status_code == 200
    assert fresh.headers["cache-control"] == "no-store"
    assert fresh.json()["access_token"] != old
    assert await harness.sandboxes.token_requests(Platform.X, name) == 2  # the code exchange, then one refresh
    me = await harness.client.get(
        f"{harness.sandboxes.urls[Platform.X]}/2/users/me",
        headers={"Authorization": f"Bearer {fresh.json()['access_token']}"},
    )
    assert me.status_code == 200
    refreshed = await event_log.of_type(account["id"], "token.refreshed")
    assert len(refreshed) == 1
    assert refreshed[0]["rotated"] is True
    assert refreshed[0]["actor"] == "service:publisher-x"
    assert refreshed[0]["correlation_id"] == "distribution-42"
    metrics = (await harness.client.get(f"{harness.url}/metrics")).text
    assert 'herald_token_endpoint_duration_seconds_count{grant="refresh_token",platform="x"}' in metrics
    assert 'herald_token_endpoint_duration_seconds_count{grant="authorization_code",platform="x"}' in metrics
    assert 'herald_token_refreshes_total{outcome="success",platform="x"}' in metrics


async def test_x_rotated_refresh_token_is_stored_before_the_token_is_returned(harness: Harness) -> None:
    _, account = await _connected(harness)
    keys = ring(k1=KEY_1)
    before = await harness.row(account["id"])
    old_refresh = keys.decrypt(before["refresh_token"], owner=before["id"], field="refresh_token")
    await harness.expire(account["id"])

    response = await harness.access_token(account["id"], Platform.X)

    assert response.status_code == 200
    after = await harness.row(account["id"])  # read as soon as the answer arrived
    new_refresh = keys.decrypt(after["refresh_token"], owner=after["id"], field="refresh_token")
    assert new_refresh != old_refresh
    assert (
        keys.decrypt(after["access_token"], owner=after["id"], field="access_token") == response.json()["access_token"]
    )
    # X killed the old refresh token; the stored new one keeps working.
    dead = await harness.client.post(
        f"{harness.sandboxes.urls[Platform.X]}/2/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": old_refresh, "client_id": "herald-dev"},
        auth=("herald-dev", "herald-dev-secret"),
    )
    assert dead.status_code == 400
    await harness.expire(account["id"])
    assert (await harness.access_token(account["id"], Platform.X)).status_code == 200


async def test_linkedin_refresh_keeps_the_unrotated_refresh_token(harness: Harness) -> None:
    name, account = await _connected(harness, Platform.LINKEDIN)
    keys = ring(k1=KEY_1)
    before = await harness.row(account["id"])
    await harness.expire(account["id"])

    assert (await harness.access_token(account["id"], Platform.LINKEDIN)).status_code == 200

    after = await harness.row(account["id"])
    assert keys.decrypt(after["refresh_token"], owner=after["id"], field="refresh_token") == keys.decrypt(
        before["refresh_token"], owner=before["id"], field="refresh_token"
    )
    assert after["expires_at"] > before["expires_at"]
    assert await harness.sandboxes.token_requests(Platform.LINKEDIN, name) == 2


async def test_100_concurrent_requests_through_two_replicas_refresh_once(harness: Harness) -> None:
    name, account = await _connected(harness)
    await harness.expire(account["id"])
    before = await harness.sandboxes.token_requests(Platform.X, name)
    second_port = reserve_port()
    replica = harness.settings.model_copy(
        update={"http_port": second_port, "public_base_url": f"http://127.0.0.1:{second_port}"}
    )

    with start_service(replica) as second_url:
        urls = [harness.url, second_url]
        await harness.sandboxes.arm(Platform.X, operation="token", kind="latency", latency_ms=300, count=1)
        responses = await asyncio.gather(
            *(harness.access_token(account["id"], Platform.X, url=urls[i % 2]) for i in range(100))
        )

    assert [r.status_code for r in responses] == [200] * 100
    assert len({r.json()["access_token"] for r in responses}) == 1
    assert await harness.sandboxes.token_requests(Platform.X, name) == before + 1
    assert (await harness.row(account["id"]))["status"] == "active"


async def test_forced_refresh_is_single_flight_on_the_rejected_token(harness: Harness) -> None:
    name, account = await _connected(harness)
    url = f"{harness.url}/internal/v1/accounts/{account['id']}/refresh"
    headers = harness.service(Platform.X)
    rejected = (await harness.access_token(account["id"], Platform.X)).json()["access_token"]
    body = {"rejected_access_token_sha256": _sha(rejected)}
    # A slow token endpoint widens the race: without single flight the other requests would refresh meanwhile.
    await harness.sandboxes.arm(Platform.X, operation="token", kind="latency", latency_ms=300, count=1)

    answers = await asyncio.gather(*(harness.client.post(url, headers=headers, json=body) for _ in range(10)))

    assert {a.status_code for a in answers} == {200}
    new_tokens = {a.json()["access_token"] for a in answers}
    assert len(new_tokens) == 1
    assert rejected not in new_tokens
    assert await harness.sandboxes.token_requests(Platform.X, name) == 2
    # Without a hash the refresh is unconditional.
    forced = await harness.client.post(url, headers=headers)
    assert forced.status_code == 200
    assert forced.json()["access_token"] not in new_tokens
    assert await harness.sandboxes.token_requests(Platform.X, name) == 3


async def test_a_publishers_report_of_a_revoked_grant_flags_the_account_once(
    harness: Harness, event_log: EventLog
) -> None:
    _, account = await _connected(harness)
    url = f"{harness.url}/internal/v1/accounts/{account['id']}/reauth-required"
    token = (await harness.access_token(account["id"], Platform.X)).json()["access_token"]
    body = {"rejected_access_token_sha256": _sha(token), "reason": "401 after a forced refresh"}
    wrong_platform = await harness.client.post(url, headers=harness.service(Platform.META), json=body)
    assert wrong_platform.status_code == 403

    answers = await asyncio.gather(
        *(harness.client.post(url, headers=harness.service(Platform.X), json=body) for _ in range(5))
    )

    assert {a.status_code for a in answers} == {204}
    refused = await harness.access_token(account["id"], Platform.X)
    assert refused.status_code == 409
    assert refused.json()["detail"]["error"] == "reauth_required"
    flagged = await event_log.of_type(account["id"], "account.reauth_required", timeout=3)
    await events_settled(harness, event_log)  # a second announcement would have arrived ahead of the marker
    assert len(await event_log.of_type(account["id"], "account.reauth_required", until=0)) == len(flagged) == 1


# -- failures -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "error", "error": "service_unavailable"},
        {"kind": "error", "error": "rate_limited"},
        {"kind": "latency", "latency_ms": 1500},  # longer than refresh_timeout_seconds (1 s)
    ],
    ids=["503", "429", "timeout"],
)
async def test_transient_refresh_failures_do_not_flag_the_account(
    harness: Harness, event_log: EventLog, fault: dict[str, Any]
) -> None:
    name, account = await _connected(harness)
    await harness.expire(account["id"])
    await harness.sandboxes.arm(Platform.X, operation="token", count=1, **fault)
    try:
        failed = await harness.access_token(account["id"], Platform.X)
    finally:
        await harness.sandboxes.clear(Platform.X)

    assert failed.status_code == 503
    assert int(failed.headers["retry-after"]) >= 1
    assert failed.json()["detail"]["error"] == "refresh_unavailable"
    assert "-at-" not in failed.text
    row = await harness.row(account["id"])
    assert row["status"] == "active"
    assert row["refresh_failures"] == 1
    [event] = await event_log.of_type(account["id"], "token.refresh_failed")
    assert event["transient"] is True

    async def back_off_over() -> bool:
        retry_at = (await harness.row(account["id"]))["refresh_retry_at"]
        return retry_at is None or retry_at <= dt.datetime.now(dt.UTC)

    await eventually(back_off_over, within=10)
    recovered = await harness.access_token(account["id"], Platform.X)
    assert recovered.status_code == 200
    assert (await harness.row(account["id"]))["refresh_failures"] == 0
    await events_settled(harness, event_log)
    assert not await event_log.of_type(account["id"], "reauth_required", until=0)
    assert await harness.sandboxes.token_requests(Platform.X, name) >= 2


@pytest.mark.parametrize(
    ("platform", "error"),
    [(Platform.X, "unauthorized_client"), (Platform.LINKEDIN, "invalid_client"), (Platform.LINKEDIN, "bad_request")],
    ids=["x-unauthorized_client", "linkedin-invalid_client", "linkedin-missing-client_secret"],
)
async def test_a_refresh_refusing_heralds_own_client_never_flags_the_account(
    harness: Harness, event_log: EventLog, platform: Platform, error: str
) -> None:
    """Issue 14 item 5: reconnecting cannot fix Herald's client secret, so the account stays active (the
    publisher holds its posts on the 503) while an operator is alerted."""
    _, account = await _connected(harness, platform)
    await harness.expire(account["id"])
    await harness.sandboxes.arm(platform, operation="token", kind="error", error=error, count=1)
    try:
        failed = await harness.access_token(account["id"], platform)
    finally:
        await harness.sandboxes.clear(platform)
    assert failed.status_code == 503
    assert failed.json()["detail"]["error"] == "refresh_unavailable"
    row = await harness.row(account["id"])
    assert row["status"] == "active"
    [event] = await event_log.of_type(account["id"], "token.refresh_failed")
    assert event["transient"] is True
    await events_settled(harness, event_log)
    assert not await event_log.of_type(account["id"], "reauth_required", until=0)


async def test_requests_during_the_back_off_do_not_call_the_platform(harness: Harness) -> None:
    # The shared service backs off for 0.3 s: on a loaded machine twenty requests can outlast that, and a request
    # after it may refresh again. This one backs off for longer than the test can take.
    port = reserve_port()
    settings = harness.settings.model_copy(
        update={
            "http_port": port,
            "public_base_url": f"http://127.0.0.1:{port}",
            "refresh_backoff_seconds": 300,
            "refresh_backoff_max_seconds": 300,
        }
    )
    with start_service(settings) as url:
        patient = Harness(url, settings, harness.sandboxes, harness.engine, harness.credentials, harness.client)
        _, account = await _connected(patient)
        await patient.expire(account["id"])
        await patient.sandboxes.arm(Platform.X, operation="token", kind="error", error="server_error", count=1)
        try:
            answers = await asyncio.gather(*(patient.access_token(account["id"], Platform.X) for _ in range(20)))
        finally:
            await patient.sandboxes.clear(Platform.X)
    assert {a.status_code for a in answers} == {503}
    assert (await harness.row(account["id"]))["refresh_failures"] == 1  # one attempt, nineteen waits


async def test_a_still_valid_token_is_handed_out_when_refresh_fails_transiently(harness: Harness) -> None:
    _, account = await _connected(harness)
    current = (await harness.access_token(account["id"], Platform.X)).json()["access_token"]
    await harness.expire(account["id"], seconds_from_now=60)  # inside the skew, not yet expired
    await harness.sandboxes.arm(Platform.X, operation="token", kind="error", error="service_unavailable", count=1)
    try:
        response = await harness.access_token(account["id"], Platform.X)
    finally:
        await harness.sandboxes.clear(Platform.X)
    assert response.status_code == 200
    assert response.json()["access_token"] == current


@pytest.mark.parametrize(
    ("platform", "error"),
    [(Platform.X, "invalid_request"), (Platform.X, "invalid_grant"), (Platform.LINKEDIN, "invalid_request")],
)
async def test_a_rejected_refresh_token_needs_reauth_and_is_announced_once(
    harness: Harness, event_log: EventLog, platform: Platform, error: str
) -> None:
    name, account = await _connected(harness, platform)
    await harness.expire(account["id"])
    await harness.sandboxes.arm(platform, operation="token", kind="error", error=error, count=1)
    try:
        first = await harness.access_token(account["id"], platform)
    finally:
        await harness.sandboxes.clear(platform)
    requests_after_failure = await harness.sandboxes.token_requests(platform, name)

    again = [await harness.access_token(account["id"], platform) for _ in range(3)]
    forced = await harness.client.post(
        f"{harness.url}/internal/v1/accounts/{account['id']}/refresh", headers=harness.service(platform)
    )

    for response in [first, *again, forced]:
        assert response.status_code == 409
        assert response.json()["detail"]["error"] == "reauth_required"
    assert await harness.sandboxes.token_requests(platform, name) == requests_after_failure
    shown = await harness.client.get(
        f"{harness.url}/v1/accounts/{account['id']}", headers=(await _team_of(harness, account))
    )
    assert shown.json()["status"] == "needs_reauth"
    await event_log.of_type(account["id"], "reauth_required")
    await events_settled(harness, event_log)  # a second announcement would have arrived ahead of the marker
    assert len(await event_log.of_type(account["id"], "reauth_required", until=0)) == 1
    [failed] = await event_log.of_type(account["id"], "token.refresh_failed")
    assert failed["transient"] is False
    assert failed["http_status"] == 400
    metrics = (await harness.client.get(f"{harness.url}/metrics")).text
    assert f'herald_accounts_needing_reauth{{platform="{platform.value}"}}' in metrics
    assert f'herald_token_refreshes_total{{outcome="permanent_failure",platform="{platform.value}"}}' in metrics


async def _team_of(harness: Harness, account: dict[str, Any]) -> dict[str, str]:
    _, key = await ApiKeyStore(harness.engine).create(uuid.UUID(account["team_id"]), "lookup")
    return {"Authorization": f"Bearer {key}"}


async def test_a_reconnect_clears_needs_reauth(harness: Harness) -> None:
    name = f"back{uuid.uuid4().hex[:8]}"
    _, team = await harness.team()
    account = (await harness.connect(Platform.X, team, name))[0]
    await harness.expire(account["id"])
    await harness.sandboxes.arm(Platform.X, operation="token", kind="error", error="invalid_request", count=1)
    try:
        assert (await harness.access_token(account["id"], Platform.X)).status_code == 409
    finally:
        await harness.sandboxes.clear(Platform.X)

    await harness.connect(Platform.X, team, name)

    assert (await harness.access_token(account["id"], Platform.X)).status_code == 200


async def test_meta_page_tokens_cannot_be_refreshed_only_reconnected(harness: Harness, event_log: EventLog) -> None:
    _, account = await _connected(harness, Platform.META)
    token = (await harness.access_token(account["id"], Platform.META)).json()["access_token"]
    url = f"{harness.url}/internal/v1/accounts/{account['id']}/refresh"

    stale = await harness.client.post(
        url, headers=harness.service(Platform.META), json={"rejected_access_token_sha256": _sha("another token")}
    )
    assert stale.status_code == 200  # not the current token: nothing to do
    assert stale.json()["access_token"] == token

    rejected = await harness.client.post(
        url, headers=harness.service(Platform.META), json={"rejected_access_token_sha256": _sha(token)}
    )
    assert rejected.status_code == 409
    assert rejected.json()["detail"]["error"] == "reauth_required"
    assert len(await event_log.of_type(account["id"], "reauth_required")) == 1


async def test_tokens_never_appear_in_events(harness: Harness, event_log: EventLog) -> None:
    _, account = await _connected(harness)
    token = (await harness.access_token(account["id"], Platform.X)).json()["access_token"]
    await harness.expire(account["id"])
    await harness.access_token(account["id"], Platform.X)
    seen = await event_log.for_account(account["id"], until=2)
    dumped = repr(seen)
    assert token not in dumped
    assert "-at-" not in dumped
    assert "-rt-" not in dumped


async def test_an_unconfigured_platform_answers_503(harness: Harness) -> None:
    port = reserve_port()
    settings = harness.settings.model_copy(
        update={"http_port": port, "public_base_url": f"http://127.0.0.1:{port}", "meta": None}
    )
    _, team = await harness.team()
    with start_service(settings) as url:
        async with httpx.AsyncClient() as client:
            response = await client.post(f"{url}/v1/accounts/connect/meta", headers=team, json={})
    assert response.status_code == 503
    assert response.json()["detail"]["error"] == "platform_not_configured"
