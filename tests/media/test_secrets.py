"""No credential reaches a log line, an error answer or an event: the media service's own scheduler credential,
the caller's API key, the scheduler's credential on the internal API."""

from __future__ import annotations

import logging
import uuid

import httpx
import pytest
from pydantic import SecretStr

from herald.media.errors import SchedulerUnavailable
from herald.media.holders import SchedulerHolders
from tests.media import samples
from tests.media.conftest import EventLog, Harness
from tests.support.servers import closed_port


async def test_credentials_never_reach_logs_answers_or_events(
    harness: Harness, event_log: EventLog, caplog: pytest.LogCaptureFixture
) -> None:
    team_id, team = await harness.team()
    api_key = team["Authorization"].removeprefix("Bearer ")
    media_token = harness.scheduler.token
    answers: list[str] = []
    with caplog.at_level(logging.DEBUG):
        item = (await harness.upload(team, samples.image("PNG", 9, 9, colour=(8, 8, 80)))).json()
        harness.scheduler.down = True
        try:
            answer = await harness.client.delete(f"{harness.url}/v1/media/{item['id']}", headers=team)
        finally:
            harness.scheduler.down = False
        assert answer.status_code == 503
        answers.append(answer.text)
        wrong_key = api_key[:-4] + "AAAA"
        refused = await harness.client.get(f"{harness.url}/v1/media", headers={"Authorization": f"Bearer {wrong_key}"})
        assert refused.status_code == 401
        answers.append(refused.text)
        resolve = await harness.client.post(
            f"{harness.url}/internal/v1/media/resolve",
            json={"team_id": str(team_id), "media_ids": [item["id"]]},
            headers={"Authorization": f"Bearer {harness.scheduler_credential[:-3]}xyz"},
        )
        assert resolve.status_code == 401
        answers.append(resolve.text)
        deleted = await harness.client.delete(f"{harness.url}/v1/media/{item['id']}", headers=team)
        assert deleted.status_code == 204
        event = await event_log.wait_for("media.deleted", media_id=item["id"])
    logged = "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    for secret in (api_key, wrong_key, media_token, harness.scheduler_credential):
        assert secret not in logged
        assert all(secret not in text for text in answers)
        assert secret not in str(event)


async def test_an_unreachable_scheduler_is_unavailable_without_naming_the_credential(
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = "svc_media_" + "s" * 43
    async with httpx.AsyncClient() as http:
        with closed_port() as port, caplog.at_level(logging.DEBUG):
            lookup = SchedulerHolders(http, f"http://127.0.0.1:{port}", SecretStr(token), 1.0)
            with pytest.raises(SchedulerUnavailable) as refused:
                await lookup.holders(uuid.uuid4(), uuid.uuid4())
    assert token not in str(refused.value)
    assert token not in "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
