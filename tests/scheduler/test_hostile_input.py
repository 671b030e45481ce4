"""Hostile input at the scheduler's API: text PostgreSQL refuses, date-times at the edges of the representable range,
local times in a zone, non-IANA zones and forged cursors all answer 422 naming the field, never a 5xx."""

from __future__ import annotations

import base64
import uuid

import httpx
import pytest

from tests.scheduler.support import Team

EDGE_INSTANTS = [
    "0001-01-01T00:00:00+05:00",  # before year 1 in UTC: cannot even be converted
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59-05:00",  # after year 9999 in UTC
    "9999-06-01T00:00:00Z",
]


async def _content(client: httpx.AsyncClient, team: Team) -> str:
    response = await client.post("/v1/contents", json={"title": "t", "text": "hello"}, headers=team.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["content_id"])


def _schedule(content_id: str, **when: str) -> dict[str, str]:
    return {"content_id": content_id, "platform": "x", "account_id": str(uuid.uuid4()), **when}


@pytest.mark.parametrize("field", ["title", "text"])
async def test_text_postgresql_refuses_is_a_422_naming_it(client: httpx.AsyncClient, team: Team, field: str) -> None:
    body = {"title": "t", "text": "hello", field: "a\x00b"}
    response = await client.post("/v1/contents", json=body, headers=team.headers)
    assert response.status_code == 422
    assert f"{field}: text contains a NUL" in response.json()["detail"][0]["msg"]

    surrogate = await client.post(
        "/v1/contents",
        content=b'{"title": "t", "text": "\\ud800"}',
        headers={**team.headers, "content-type": "application/json"},
    )
    assert surrogate.status_code == 422
    assert "unpaired surrogate" in surrogate.json()["detail"][0]["msg"]


async def test_a_refused_input_that_cannot_be_encoded_is_still_echoed_safely(
    client: httpx.AsyncClient, team: Team
) -> None:
    response = await client.post(
        "/v1/contents",
        content=b'{"title": ["\\ud800"], "text": "x"}',
        headers={**team.headers, "content-type": "application/json"},
    )
    assert response.status_code == 422


@pytest.mark.parametrize("instant", EDGE_INSTANTS)
async def test_publish_at_at_the_edges_of_the_range_is_a_422(
    client: httpx.AsyncClient, team: Team, instant: str
) -> None:
    content_id = await _content(client, team)
    response = await client.post(
        "/v1/distributions", json=_schedule(content_id, publish_at=instant), headers=team.headers
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "publish_at"]


@pytest.mark.parametrize(
    ("local_time", "zone"),
    [
        ("0001-01-01T00:00:00", "America/New_York"),
        ("9999-12-31T23:00:00", "Asia/Tokyo"),
        ("9999-01-01T00:30:00", "UTC"),
    ],
)
async def test_local_times_out_of_range_in_their_zone_are_a_422(
    client: httpx.AsyncClient, team: Team, local_time: str, zone: str
) -> None:
    content_id = await _content(client, team)
    body = _schedule(content_id, local_time=local_time, timezone=zone)
    response = await client.post("/v1/distributions", json=body, headers=team.headers)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "local_time"]
    assert "out of range" in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize("zone", ["localtime", "posixrules", "Factory", "europe/berlin", "posix/Europe/Berlin", "../x"])
async def test_only_iana_zone_names_are_accepted(client: httpx.AsyncClient, team: Team, zone: str) -> None:
    content_id = await _content(client, team)
    body = _schedule(content_id, local_time="2030-06-01T09:00:00", timezone=zone)
    response = await client.post("/v1/distributions", json=body, headers=team.headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "timezone"]


async def test_listing_refuses_numbers_edge_instants_nul_and_forged_cursors(
    client: httpx.AsyncClient, team: Team
) -> None:
    async def listing(**params: str) -> httpx.Response:
        return await client.get("/v1/distributions", params=params, headers=team.headers)

    assert (await listing(scheduled_from="2030-01-01T00:00:00Z")).status_code == 200
    for bad in ["1700000000", "1700000000.5", *EDGE_INSTANTS]:
        response = await listing(scheduled_from=bad)
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["detail"][0]["loc"] == ["query", "scheduled_from"]
    nul = await listing(cursor="a\x00b")
    assert nul.status_code == 422
    assert nul.json()["detail"][0]["loc"] == ["query", "cursor"]
    for raw in [f"0001-01-01T00:00:00+05:00|{uuid.uuid4()}", f"9999-12-31T23:59:59-05:00|{uuid.uuid4()}"]:
        forged = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        response = await listing(cursor=forged)
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"] == ["query", "cursor"]


async def test_unparsable_bodies_are_a_400_and_documented(client: httpx.AsyncClient, team: Team) -> None:
    response = await client.post(
        "/v1/contents", content=b'{"title": "\xff"}', headers={**team.headers, "content-type": "application/json"}
    )
    assert response.status_code == 400
    schema = (await client.get("/openapi.json")).json()
    operation = schema["paths"]["/v1/contents"]["post"]
    assert {"400", "401", "422"} <= set(operation["responses"])
    metrics = schema["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]
    scheduled_from = next(
        p for p in schema["paths"]["/v1/distributions"]["get"]["parameters"] if p["name"] == "scheduled_from"
    )
    assert "date-time" in str(scheduled_from["schema"])
