"""Team API keys through the admin API (bootstrap secret): listed without secrets, created and revoked, each change
published for the audit log; a revoked key answers 401 at once."""

from __future__ import annotations

import uuid

import httpx

from herald.contracts.identity import ApiKeyCreated, ApiKeyRevoked, KeyChannel
from herald.kit.admin import BOOTSTRAP_HEADER
from tests.scheduler.support import BOOTSTRAP_SECRET, watching

ADMIN = {BOOTSTRAP_HEADER: BOOTSTRAP_SECRET}


async def test_keys_are_listed_created_and_revoked_with_audit_events(client: httpx.AsyncClient, amqp_url: str) -> None:
    team_id = uuid.uuid4()
    async with watching(amqp_url, "api_key.#") as watch:
        created = await client.post("/v1/admin/api-keys", json={"team_id": str(team_id), "name": "ci"}, headers=ADMIN)
        assert created.status_code == 201, created.text
        key_id, api_key = created.json()["key_id"], created.json()["api_key"]
        team = {"Authorization": f"Bearer {api_key}"}
        assert (await client.get("/v1/distributions", headers=team)).status_code == 200

        listed = await client.get("/v1/admin/api-keys", params={"team_id": str(team_id)}, headers=ADMIN)
        assert listed.status_code == 200
        assert [(k["key_id"], k["name"], k["revoked_at"]) for k in listed.json()["items"]] == [(key_id, "ci", None)]
        assert api_key[len("hk_") + 12 + 1 :] not in listed.text  # the secret part of the key

        revoked = await client.delete(f"/v1/admin/api-keys/{key_id}", headers=ADMIN)
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["revoked_at"] is not None
        assert (await client.get("/v1/distributions", headers=team)).status_code == 401
        again = await client.delete(f"/v1/admin/api-keys/{key_id}", headers=ADMIN)
        assert again.status_code == 200
        assert again.json()["revoked_at"] == revoked.json()["revoked_at"]

        [created_event] = await watch.wait_for(ApiKeyCreated, key_id=key_id)
        [revoked_event] = await watch.wait_for(ApiKeyRevoked, key_id=key_id)
        for event in (created_event, revoked_event):
            assert (event.team_id, event.name, event.channel) == (team_id, "ci", KeyChannel.ADMIN_API)
            assert event.actor == "service:operator"
        assert len(watch.of(ApiKeyRevoked, key_id=key_id)) == 1  # revoking twice is recorded once
        assert api_key not in str([m.body for m in watch.messages])


async def test_every_admin_route_needs_the_bootstrap_secret_and_checks_input(client: httpx.AsyncClient) -> None:
    for headers in ({}, {BOOTSTRAP_HEADER: "guess"}):
        assert (await client.get("/v1/admin/api-keys", headers=headers)).status_code == 401
        assert (await client.delete("/v1/admin/api-keys/000000000000", headers=headers)).status_code == 401
        assert (await client.post("/v1/admin/api-keys", json={}, headers=headers)).status_code == 401
    assert (await client.delete("/v1/admin/api-keys/000000000000", headers=ADMIN)).status_code == 404
    assert (await client.delete("/v1/admin/api-keys/NOT-A-KEY", headers=ADMIN)).status_code == 422
    unknown = await client.post("/v1/admin/api-keys", json={"nmae": "x"}, headers=ADMIN)
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["type"] == "extra_forbidden"
    assert (await client.get("/v1/admin/api-keys", params={"team_id": "x"}, headers=ADMIN)).status_code == 422
