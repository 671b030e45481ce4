"""Authentication and team isolation: a team sees only its own data; other teams' ids answer 404."""

import datetime as dt
import uuid
from typing import Any

import httpx

from herald.kit.admin import BOOTSTRAP_HEADER
from tests.scheduler.support import BOOTSTRAP_SECRET, Team, new_team, now


async def test_another_teams_ids_answer_404_everywhere(
    client: httpx.AsyncClient, team: Team, content: dict[str, Any], x_account: uuid.UUID
) -> None:
    scheduled = await client.post(
        "/v1/distributions",
        json={
            "content_id": content["content_id"],
            "platform": "x",
            "account_id": str(x_account),
            "publish_at": (now() + dt.timedelta(days=1)).isoformat(),
        },
        headers=team.headers,
    )
    assert scheduled.status_code == 201
    distribution_id = scheduled.json()["distribution_id"]
    content_id = content["content_id"]
    intruder = await new_team(client)
    later = {"publish_at": (now() + dt.timedelta(days=2)).isoformat()}

    for method, path, body in [
        ("GET", f"/v1/contents/{content_id}", None),
        ("PATCH", f"/v1/contents/{content_id}", {"title": "mine now"}),
        ("POST", f"/v1/contents/{content_id}/approve", None),
        ("POST", f"/v1/contents/{content_id}/withdraw-approval", None),
        ("POST", f"/v1/contents/{content_id}/archive", None),
        ("GET", f"/v1/distributions/{distribution_id}", None),
        ("POST", f"/v1/distributions/{distribution_id}/cancel", None),
        ("POST", f"/v1/distributions/{distribution_id}/reschedule", later),
        ("POST", f"/v1/distributions/{distribution_id}/publish-now", None),
    ]:
        response = await client.request(method, path, json=body, headers=intruder.headers)
        assert response.status_code == 404, (method, path, response.text)

    listed = await client.get(f"/v1/distributions?content_id={content_id}", headers=intruder.headers)
    assert listed.json() == {"items": [], "next_cursor": None}
    # Nothing the intruder tried changed anything.
    mine = await client.get(f"/v1/distributions/{distribution_id}", headers=team.headers)
    assert mine.json()["status"] == "scheduled"
    assert (await client.get(f"/v1/contents/{content_id}", headers=team.headers)).json()["status"] == "approved"


async def test_requests_without_a_valid_key_are_refused(client: httpx.AsyncClient, team: Team) -> None:
    assert (await client.get("/v1/distributions")).status_code == 401
    forged = {"Authorization": f"Bearer hk_{team.key_id}_{'A' * 43}"}
    assert (await client.get("/v1/distributions", headers=forged)).status_code == 401
    assert (await client.get("/v1/distributions", headers={"Authorization": "Bearer nonsense"})).status_code == 401


async def test_admin_endpoint_needs_the_bootstrap_secret(client: httpx.AsyncClient) -> None:
    assert (await client.post("/v1/admin/api-keys", json={})).status_code == 401
    wrong = await client.post("/v1/admin/api-keys", json={}, headers={BOOTSTRAP_HEADER: "guess"})
    assert wrong.status_code == 401
    assert "guess" not in wrong.text

    team = await new_team(client)
    second = await client.post(
        "/v1/admin/api-keys",
        json={"team_id": str(team.team_id), "name": "ci"},
        headers={BOOTSTRAP_HEADER: BOOTSTRAP_SECRET},
    )
    assert second.status_code == 201
    assert second.json()["team_id"] == str(team.team_id)
    headers = {"Authorization": f"Bearer {second.json()['api_key']}"}
    created = await client.post("/v1/contents", json={"title": "t", "text": "x"}, headers=headers)
    # Both keys of one team see the same data.
    seen = await client.get(f"/v1/contents/{created.json()['content_id']}", headers=team.headers)
    assert seen.status_code == 200
