"""The event models: common fields, time zones, actors, team ids, tolerant reading, enums."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import ValidationError

from herald.contracts import (
    EVENT_CLASSES,
    FailureReason,
    MessageParked,
    MessagePurged,
    MessageReplayed,
    Platform,
    PublishRequested,
    TeamEvent,
    api_key_actor,
    service_actor,
)
from herald.contracts.examples import EXAMPLES, example_for

MESSAGE_EVENTS = {MessageParked, MessageReplayed, MessagePurged}


def _payload(cls: type[Any], **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = example_for(cls).model_dump(mode="json")
    data.update(changes)
    return data


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.ce_type())
def test_every_event_carries_the_common_fields(cls: type[Any]) -> None:
    assert {"team_id", "correlation_id", "actor", "occurred_at"} <= set(cls.model_fields)
    required = {name for name, field in cls.model_fields.items() if field.is_required()}
    assert {"correlation_id", "actor", "occurred_at"} <= required


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.ce_type())
def test_team_id_is_required_except_on_message_handling_events(cls: type[Any]) -> None:
    data = _payload(cls)
    del data["team_id"]
    if cls in MESSAGE_EVENTS:
        assert cls.model_validate(data).team_id is None
    else:
        assert issubclass(cls, TeamEvent)
        with pytest.raises(ValidationError, match="team_id"):
            cls.model_validate(data)


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.ce_type())
def test_naive_datetimes_are_rejected_everywhere(cls: type[Any]) -> None:
    datetime_fields = [
        name
        for name, field in cls.model_fields.items()
        if "date-time" in str(cls.model_json_schema()["properties"][name])
    ]
    assert "occurred_at" in datetime_fields
    for name in datetime_fields:
        with pytest.raises(ValidationError, match=name):
            cls.model_validate(_payload(cls, **{name: "2025-03-14T09:30:00"}))


def test_aware_datetimes_are_normalised_to_utc() -> None:
    berlin = dt.timezone(dt.timedelta(hours=1))
    event = PublishRequested.model_validate(
        _payload(
            PublishRequested,
            occurred_at="2025-03-14T10:30:00+01:00",
            scheduled_at=dt.datetime(2025, 3, 14, 11, tzinfo=berlin),
        )
    )
    assert event.occurred_at == dt.datetime(2025, 3, 14, 9, 30, tzinfo=dt.UTC)
    assert event.occurred_at.utcoffset() == dt.timedelta(0)
    assert event.scheduled_at.isoformat() == "2025-03-14T10:00:00+00:00"
    assert event.model_dump(mode="json")["occurred_at"] == "2025-03-14T09:30:00Z"


@pytest.mark.parametrize("actor", ["system", "service:scheduler", "service:publisher-x", "api_key:key_01HV3"])
def test_valid_actors(actor: str) -> None:
    assert PublishRequested.model_validate(_payload(PublishRequested, actor=actor)).actor == actor


@pytest.mark.parametrize("actor", ["", "root", "service:", "api_key:", "user:42", "service:Scheduler", "api_key:a b"])
def test_invalid_actors(actor: str) -> None:
    with pytest.raises(ValidationError, match="actor"):
        PublishRequested.model_validate(_payload(PublishRequested, actor=actor))


def test_actor_helpers() -> None:
    assert service_actor("publisher-x") == "service:publisher-x"
    assert api_key_actor("key_01HV3") == "api_key:key_01HV3"
    with pytest.raises(ValueError, match="service name"):
        service_actor("Publisher X")
    with pytest.raises(ValueError, match="API key id"):
        api_key_actor("has space")


def test_correlation_id_must_not_be_empty() -> None:
    with pytest.raises(ValidationError, match="correlation_id"):
        PublishRequested.model_validate(_payload(PublishRequested, correlation_id=""))


def test_unknown_fields_are_ignored_so_producers_can_add_optional_fields() -> None:
    data = _payload(PublishRequested, added_in_a_later_release={"nested": True})
    assert PublishRequested.model_validate(data) == example_for(PublishRequested)


def test_events_are_immutable() -> None:
    event = example_for(PublishRequested)
    with pytest.raises(ValidationError, match="frozen"):
        event.text = "changed"  # type: ignore[misc]


def test_publish_requested_defaults() -> None:
    data = _payload(PublishRequested)
    for name in ("link", "over_length", "max_attempts", "base_delay_seconds"):
        del data[name]
    event = PublishRequested.model_validate(data)
    assert (event.link, event.over_length, event.max_attempts, event.base_delay_seconds) == (None, "reject", 5, 300)


def test_failure_reasons_and_platforms_are_the_agreed_values() -> None:
    assert [r.value for r in FailureReason] == [
        "permanent",
        "reconnect_required",
        "duplicate",
        "attempts_exhausted",
        "cancelled",
    ]
    assert [p.value for p in Platform] == ["x", "linkedin", "meta"]


def test_enums_reject_unknown_values() -> None:
    with pytest.raises(ValidationError, match="platform"):
        PublishRequested.model_validate(_payload(PublishRequested, platform="myspace"))


def test_subject_is_the_id_of_what_the_event_is_about() -> None:
    request = example_for(PublishRequested)
    assert request.ce_subject() == str(request.distribution_id)
    parked = MessageParked.model_validate(_payload(MessageParked, original_message_id=None, team_id=None))
    assert parked.ce_subject() is None


def test_examples_cover_every_event_once_and_carry_a_team() -> None:
    assert [type(e) for e in EXAMPLES] == list(EVENT_CLASSES)
    assert all(getattr(e, "team_id", None) is not None for e in EXAMPLES)
