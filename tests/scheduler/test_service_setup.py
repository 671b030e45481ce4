"""Settings, the published API description, and housekeeping of consumed event ids."""

import datetime as dt
import uuid

import httpx
import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import text

from herald.scheduler import repository as repo
from herald.scheduler.settings import SchedulerSettings
from tests.scheduler.support import Instance


@pytest.mark.fast
def test_the_placeholder_bootstrap_secret_is_refused_outside_development() -> None:
    assert SchedulerSettings().bootstrap_secret.get_secret_value() == "dev-bootstrap-secret"
    with pytest.raises(ValidationError, match="HERALD_BOOTSTRAP_SECRET holds a placeholder"):
        SchedulerSettings(environment="production")
    real = SchedulerSettings(environment="production", bootstrap_secret=SecretStr("x" * 32))
    assert (real.service_name, real.http_port, real.db_schema) == ("scheduler", 8001, "scheduler")


@pytest.mark.fast
def test_settings_come_from_herald_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERALD_MISFIRE_THRESHOLD_SECONDS", "30")
    monkeypatch.setenv("HERALD_DUE_MAX_SLEEP_SECONDS", "5")
    settings = SchedulerSettings()
    assert (settings.misfire_threshold_seconds, settings.due_max_sleep_seconds) == (30, 5)


async def test_the_openapi_document_describes_every_operation(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    operations = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert operations >= {
        ("POST", "/v1/contents"),
        ("GET", "/v1/contents/{content_id}"),
        ("PATCH", "/v1/contents/{content_id}"),
        ("POST", "/v1/contents/{content_id}/approve"),
        ("POST", "/v1/contents/{content_id}/withdraw-approval"),
        ("POST", "/v1/contents/{content_id}/archive"),
        ("POST", "/v1/distributions"),
        ("GET", "/v1/distributions"),
        ("GET", "/v1/distributions/{distribution_id}"),
        ("POST", "/v1/distributions/{distribution_id}/cancel"),
        ("POST", "/v1/distributions/{distribution_id}/reschedule"),
        ("POST", "/v1/distributions/{distribution_id}/publish-now"),
        ("POST", "/v1/admin/api-keys"),
    }
    schedule = document["paths"]["/v1/distributions"]["post"]
    assert {"404", "409", "422"} <= set(schedule["responses"])
    assert "dst_resolution" in document["components"]["schemas"]["ScheduleIn"]["properties"]


async def test_old_consumed_event_ids_are_pruned(scheduler: Instance) -> None:
    old, recent = f"old-{uuid.uuid4()}", f"recent-{uuid.uuid4()}"
    async with scheduler.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO processed_events (event_id, event_type, processed_at)"
                " VALUES (:old, 't', now() - interval '30 days'), (:recent, 't', now())"
            ),
            {"old": old, "recent": recent},
        )
        await repo.prune_processed_events(conn, dt.timedelta(days=14))
        left = (
            await conn.execute(
                text("SELECT event_id FROM processed_events WHERE event_id IN (:old, :recent)"),
                {"old": old, "recent": recent},
            )
        ).scalars()
        assert list(left) == [recent]
