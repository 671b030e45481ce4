"""Listing distributions: filters (status, platform, account, content, time range) and keyset pagination."""

import datetime as dt
import uuid
from typing import Any

import httpx

from herald.contracts.platform import Platform
from tests.scheduler.support import Broker, Instance, Team

BASE = dt.datetime(2031, 3, 1, 9, 0, tzinfo=dt.UTC)


async def test_filters_and_keyset_pagination(
    scheduler: Instance,
    broker: Broker,
    client: httpx.AsyncClient,
    team: Team,
    content: dict[str, Any],
    x_account: uuid.UUID,
) -> None:
    linkedin = await broker.connect_account(scheduler.engine, team, Platform.LINKEDIN)
    created: list[dict[str, Any]] = []
    for i in range(7):
        platform, account = ("linkedin", linkedin) if i % 3 == 0 else ("x", x_account)
        # Two share a due time: the distribution id breaks the tie, so no page repeats or skips one.
        at = BASE + dt.timedelta(hours=min(i, 5))
        response = await client.post(
            "/v1/distributions",
            json={
                "content_id": content["content_id"],
                "platform": platform,
                "account_id": str(account),
                "publish_at": at.isoformat(),
            },
            headers=team.headers,
        )
        assert response.status_code == 201, response.text
        created.append(response.json())
    await client.post(f"/v1/distributions/{created[1]['distribution_id']}/cancel", headers=team.headers)
    expected = [d["distribution_id"] for d in sorted(created, key=lambda d: (d["scheduled_at"], d["distribution_id"]))]

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/distributions", params=params, headers=team.headers)).json()
        seen += [d["distribution_id"] for d in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    assert pages == 3

    async def ids(**params: Any) -> set[str]:
        response = await client.get("/v1/distributions", params=params, headers=team.headers)
        assert response.status_code == 200, response.text
        return {d["distribution_id"] for d in response.json()["items"]}

    by_index = [d["distribution_id"] for d in created]
    assert await ids(platform="linkedin") == {by_index[0], by_index[3], by_index[6]}
    assert await ids(account_id=str(x_account)) == {by_index[i] for i in (1, 2, 4, 5)}
    assert await ids(status="cancelled") == {by_index[1]}
    assert await ids(status=["cancelled", "scheduled"]) == set(by_index)
    window = {
        "scheduled_from": (BASE + dt.timedelta(hours=1)).isoformat(),
        "scheduled_before": (BASE + dt.timedelta(hours=3)).isoformat(),
    }
    assert await ids(**window) == {by_index[1], by_index[2]}
    assert await ids(content_id=content["content_id"], platform="x", status="scheduled") == {
        by_index[i] for i in (2, 4, 5)
    }
