"""The accounts projection, fed by the tokens service's events on the real broker."""

import datetime as dt
import uuid
from typing import Any

import httpx
from sqlalchemy import text

from herald.contracts.accounts import AccountConnected, AccountDisconnected, AccountReauthRequired
from herald.contracts.base import SYSTEM_ACTOR
from herald.contracts.distribution import DistributionCancelled
from herald.contracts.platform import Platform
from tests.scheduler.support import (
    Broker,
    Instance,
    Team,
    account_event,
    now,
    wait_for_account,
    wait_processed,
    watching,
)


async def schedule(
    client: httpx.AsyncClient, team: Team, content: dict[str, Any], account: uuid.UUID
) -> httpx.Response:
    return await client.post(
        "/v1/distributions",
        json={
            "content_id": content["content_id"],
            "platform": "x",
            "account_id": str(account),
            "publish_at": (now() + dt.timedelta(days=1)).isoformat(),
        },
        headers=team.headers,
    )


async def account_status(scheduler: Instance, account: uuid.UUID) -> str:
    async with scheduler.engine.connect() as conn:
        status: str = (
            await conn.execute(text("SELECT status FROM accounts WHERE account_id = :id"), {"id": account})
        ).scalar_one()
    return status


async def test_disconnecting_an_account_cancels_its_distributions_and_refuses_new_ones(
    amqp_url: str,
    scheduler: Instance,
    broker: Broker,
    client: httpx.AsyncClient,
    team: Team,
    content: dict[str, Any],
    x_account: uuid.UUID,
) -> None:
    ids = [(await schedule(client, team, content, x_account)).json()["distribution_id"] for _ in range(2)]
    async with watching(amqp_url, "distribution.cancelled.v1.*") as watch:
        await broker.publish(account_event(AccountDisconnected, team, Platform.X, x_account))
        cancelled = await watch.wait_for(DistributionCancelled, 2, account_id=x_account)
    assert sorted(str(e.distribution_id) for e in cancelled) == sorted(ids)
    assert {(e.reason, e.actor) for e in cancelled} == {("account disconnected", SYSTEM_ACTOR)}

    refused = await schedule(client, team, content, x_account)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "account_id"]
    assert "disconnected" in refused.json()["detail"][0]["msg"]

    await broker.publish(account_event(AccountConnected, team, Platform.X, x_account))
    await wait_for_account(scheduler.engine, x_account, "connected")
    assert (await schedule(client, team, content, x_account)).status_code == 201


async def test_an_older_account_event_arriving_late_does_not_undo_a_newer_one(
    scheduler: Instance, broker: Broker, client: httpx.AsyncClient, team: Team, content: dict[str, Any]
) -> None:
    connected_at = now()
    account = await broker.connect_account(scheduler.engine, team, Platform.X, occurred_at=connected_at)
    distribution = (await schedule(client, team, content, account)).json()["distribution_id"]
    stale = account_event(AccountDisconnected, team, Platform.X, account, connected_at - dt.timedelta(minutes=5))
    await wait_processed(scheduler.engine, await broker.publish(stale))
    assert await account_status(scheduler, account) == "connected"
    newer = account_event(AccountReauthRequired, team, Platform.X, account, connected_at + dt.timedelta(1))
    await broker.publish(newer)
    await wait_for_account(scheduler.engine, account, "reauth_required")
    got = await client.get(f"/v1/distributions/{distribution}", headers=team.headers)
    assert got.json()["status"] == "scheduled"
    # An account that needs re-authorisation can still be scheduled: it may be reconnected before it is due.
    assert (await schedule(client, team, content, account)).status_code == 201
