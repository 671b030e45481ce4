"""Times: offsets, IANA zones, and DST gaps and overlaps resolved only when the caller says how."""

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest

from herald.scheduler.errors import InvalidField
from herald.scheduler.models import DstResolution
from herald.scheduler.timezones import RequestedTime, resolve

UTC = dt.UTC


def at(local: str, zone: str, how: DstResolution = DstResolution.REJECT) -> dt.datetime:
    return resolve(RequestedTime(local_time=local, timezone=zone, dst_resolution=how)).at


@pytest.mark.fast
@pytest.mark.parametrize(
    ("local", "zone", "how", "expected"),
    [
        # Ordinary times, either side of the DST change.
        ("2030-01-15T09:00:00", "Europe/Berlin", DstResolution.REJECT, dt.datetime(2030, 1, 15, 8, 0, tzinfo=UTC)),
        ("2030-07-15T09:00:00", "Europe/Berlin", DstResolution.REJECT, dt.datetime(2030, 7, 15, 7, 0, tzinfo=UTC)),
        ("2030-07-15T09:00:00", "Asia/Kolkata", DstResolution.REJECT, dt.datetime(2030, 7, 15, 3, 30, tzinfo=UTC)),
        # Spring forward in Berlin, 02:00 -> 03:00: 02:30 does not exist.
        ("2030-03-31T02:30:00", "Europe/Berlin", DstResolution.EARLIER, dt.datetime(2030, 3, 31, 0, 30, tzinfo=UTC)),
        ("2030-03-31T02:30:00", "Europe/Berlin", DstResolution.LATER, dt.datetime(2030, 3, 31, 1, 30, tzinfo=UTC)),
        # Fall back in Berlin, 03:00 -> 02:00: 02:30 happens twice.
        ("2030-10-27T02:30:00", "Europe/Berlin", DstResolution.EARLIER, dt.datetime(2030, 10, 27, 0, 30, tzinfo=UTC)),
        ("2030-10-27T02:30:00", "Europe/Berlin", DstResolution.LATER, dt.datetime(2030, 10, 27, 1, 30, tzinfo=UTC)),
        # New York: gap at 02:00 in March, overlap at 01:00 in November.
        ("2030-03-10T02:30:00", "America/New_York", DstResolution.LATER, dt.datetime(2030, 3, 10, 7, 30, tzinfo=UTC)),
        ("2030-11-03T01:30:00", "America/New_York", DstResolution.EARLIER, dt.datetime(2030, 11, 3, 5, 30, tzinfo=UTC)),
        ("2030-11-03T01:30:00", "America/New_York", DstResolution.LATER, dt.datetime(2030, 11, 3, 6, 30, tzinfo=UTC)),
    ],
)
def test_local_times_resolve_to_the_right_instant(
    local: str, zone: str, how: DstResolution, expected: dt.datetime
) -> None:
    assert at(local, zone, how) == expected


@pytest.mark.fast
def test_a_resolution_choice_does_not_change_unambiguous_times() -> None:
    for how in DstResolution:
        assert at("2030-07-15T09:00:00", "Europe/Berlin", how) == dt.datetime(2030, 7, 15, 7, 0, tzinfo=UTC)


@pytest.mark.fast
@pytest.mark.parametrize(
    ("local", "zone", "words"),
    [
        ("2030-03-31T02:30:00", "Europe/Berlin", "does not exist in Europe/Berlin"),
        ("2030-10-27T02:30:00", "Europe/Berlin", "happens twice in Europe/Berlin"),
        ("2030-03-10T02:00:00", "America/New_York", "does not exist in America/New_York"),
        ("2030-11-03T01:00:00", "America/New_York", "happens twice in America/New_York"),
    ],
)
def test_gaps_and_overlaps_are_refused_unless_resolved(local: str, zone: str, words: str) -> None:
    with pytest.raises(InvalidField) as refused:
        at(local, zone)
    assert refused.value.field == "local_time"
    assert words in refused.value.message
    assert "'earlier'" in refused.value.message


@pytest.mark.fast
def test_offsets_are_honoured_and_the_zone_kept_for_display() -> None:
    resolved = resolve(RequestedTime(publish_at="2030-07-15T09:00:00-07:00", timezone="America/Los_Angeles"))
    assert resolved.at == dt.datetime(2030, 7, 15, 16, 0, tzinfo=UTC)
    assert (resolved.timezone, resolved.local_time, resolved.field) == ("America/Los_Angeles", None, "publish_at")
    assert resolve(RequestedTime(publish_at="2030-07-15T16:00:00Z")).at == resolved.at


async def test_a_local_time_is_stored_as_utc_with_its_zone(
    client: httpx.AsyncClient, content: dict[str, Any], x_account: uuid.UUID, team: Any
) -> None:
    response = await client.post(
        "/v1/distributions",
        json={
            "content_id": content["content_id"],
            "platform": "x",
            "account_id": str(x_account),
            "local_time": "2030-10-27T02:30:00",
            "timezone": "Europe/Berlin",
            "dst_resolution": "later",
        },
        headers=team.headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["scheduled_at"] == "2030-10-27T01:30:00Z"
    assert (body["timezone"], body["scheduled_at_local"]) == ("Europe/Berlin", "2030-10-27T02:30:00+01:00")
