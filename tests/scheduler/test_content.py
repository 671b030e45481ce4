"""Content: create, edit while unsent, approve, withdraw approval, archive, and the events each emits."""

import datetime as dt
import uuid
from typing import Any

import httpx

from herald.contracts.distribution import ContentApprovalWithdrawn, ContentApproved, DistributionCancelled
from herald.contracts.publishing import PublishRequested
from tests.scheduler.support import Team, now, watching


async def schedule(client: httpx.AsyncClient, team: Team, content_id: str, account: uuid.UUID, **extra: Any) -> str:
    response = await client.post(
        "/v1/distributions",
        json={
            "content_id": content_id,
            "platform": "x",
            "account_id": str(account),
            "publish_at": (now() + dt.timedelta(days=1)).isoformat(),
        }
        | extra,
        headers=team.headers,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["distribution_id"])


async def test_approval_and_its_withdrawal_are_idempotent_and_emit_events(
    amqp_url: str, client: httpx.AsyncClient, team: Team
) -> None:
    async with watching(amqp_url, "content.#") as watch:
        created = await client.post("/v1/contents", json={"title": "Hello", "text": "Hi all"}, headers=team.headers)
        assert created.status_code == 201
        assert created.json()["status"] == "draft"
        content_id = uuid.UUID(created.json()["content_id"])
        for _ in range(2):
            approved = await client.post(f"/v1/contents/{content_id}/approve", headers=team.headers)
            assert approved.json()["status"] == "approved"
        [event] = await watch.wait_for(ContentApproved, content_id=content_id)
        assert (event.team_id, event.title, event.actor) == (team.team_id, "Hello", f"api_key:{team.key_id}")
        assert event.correlation_id == str(content_id)

        for _ in range(2):
            withdrawn = await client.post(
                f"/v1/contents/{content_id}/withdraw-approval", json={"reason": "typo"}, headers=team.headers
            )
            assert withdrawn.json()["status"] == "draft"
        [event] = await watch.wait_for(ContentApprovalWithdrawn, content_id=content_id)
        assert event.reason == "typo"
        assert len(watch.of(ContentApproved, content_id=content_id)) == 1  # approving twice emitted once


async def test_editing_approved_content_withdraws_its_approval(
    amqp_url: str, client: httpx.AsyncClient, team: Team, content: dict[str, Any]
) -> None:
    content_id = content["content_id"]
    async with watching(amqp_url, "content.#") as watch:
        same = await client.patch(f"/v1/contents/{content_id}", json={"title": "Launch"}, headers=team.headers)
        assert same.json()["status"] == "approved"  # no change, nothing withdrawn
        edited = await client.patch(
            f"/v1/contents/{content_id}", json={"text": "Herald ships tomorrow.", "link": None}, headers=team.headers
        )
        assert edited.status_code == 200
        assert (edited.json()["text"], edited.json()["link"], edited.json()["status"]) == (
            "Herald ships tomorrow.",
            None,
            "draft",
        )
        [event] = await watch.wait_for(ContentApprovalWithdrawn, content_id=uuid.UUID(content_id))
        assert event.reason == "content edited after approval"


async def test_content_sent_for_publishing_can_no_longer_be_edited(
    amqp_url: str, client: httpx.AsyncClient, team: Team, content: dict[str, Any], x_account: uuid.UUID
) -> None:
    async with watching(amqp_url, "publish.requested.v2.x") as watch:
        distribution_id = await schedule(client, team, content["content_id"], x_account)
        now_ = await client.post(f"/v1/distributions/{distribution_id}/publish-now", headers=team.headers)
        assert now_.status_code == 200
        await watch.wait_for(PublishRequested, distribution_id=uuid.UUID(distribution_id))
    edit = await client.patch(f"/v1/contents/{content['content_id']}", json={"text": "new"}, headers=team.headers)
    assert edit.status_code == 409
    assert "already been sent" in edit.json()["detail"]


async def test_archiving_cancels_every_unpublished_distribution(
    amqp_url: str, client: httpx.AsyncClient, team: Team, content: dict[str, Any], x_account: uuid.UUID
) -> None:
    content_id = content["content_id"]
    first = await schedule(client, team, content_id, x_account)
    second = await schedule(client, team, content_id, x_account)
    async with watching(amqp_url, "distribution.cancelled.v1.*") as watch:
        archived = await client.post(f"/v1/contents/{content_id}/archive", headers=team.headers)
        assert archived.json()["status"] == "archived"
        cancelled = await watch.wait_for(DistributionCancelled, 2, content_id=uuid.UUID(content_id))
    assert {str(e.distribution_id) for e in cancelled} == {first, second}
    assert {e.reason for e in cancelled} == {"content archived"}
    for distribution_id in (first, second):
        got = await client.get(f"/v1/distributions/{distribution_id}", headers=team.headers)
        assert (got.json()["status"], got.json()["cancel_reason"]) == ("cancelled", "content archived")

    assert (await client.post(f"/v1/contents/{content_id}/approve", headers=team.headers)).status_code == 409
    assert (
        await client.patch(f"/v1/contents/{content_id}", json={"text": "x"}, headers=team.headers)
    ).status_code == 409
    refused = await client.post(
        "/v1/distributions",
        json={
            "content_id": content_id,
            "platform": "x",
            "account_id": str(x_account),
            "publish_at": "2031-01-01T00:00Z",
        },
        headers=team.headers,
    )
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["msg"] == "content is archived"
