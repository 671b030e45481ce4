"""CloudEvents binary mode over AMQP: building envelopes and reading them back, with clear errors."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest

from herald.contracts import (
    EVENT_CLASSES,
    EVENTS_EXCHANGE,
    ContractError,
    MalformedEvent,
    MessageParked,
    ParkCategory,
    PublishRequested,
    UnknownEventType,
    from_amqp,
    read_amqp,
    service_source,
    to_amqp,
)
from herald.contracts.base import Event
from herald.contracts.examples import example_for

SOURCE = "/herald/tests"


def _envelope(cls: type[Event] = PublishRequested, **kwargs: Any) -> Any:
    return to_amqp(example_for(cls), source=SOURCE, **kwargs)


def test_envelope_of_a_publish_request() -> None:
    event = example_for(PublishRequested)
    env = to_amqp(event, source=service_source("scheduler"), event_id="evt-1")
    assert env.exchange == EVENTS_EXCHANGE == "herald.events"
    assert env.routing_key == "publish.requested.v2.linkedin"
    assert env.content_type == "application/json"
    assert env.type == "com.herald.publish.requested.v2"
    assert env.message_id == "evt-1"
    assert env.headers == {
        "cloudEvents_id": "evt-1",
        "cloudEvents_source": "/herald/scheduler",
        "cloudEvents_type": "com.herald.publish.requested.v2",
        "cloudEvents_specversion": "1.0",
        "cloudEvents_time": "2025-03-14T09:30:00Z",
        "cloudEvents_subject": str(event.distribution_id),
        "cloudEvents_dataschema": "urn:herald:schema:com.herald.publish.requested:v2",
    }
    assert json.loads(env.body) == event.model_dump(mode="json")


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.ce_type())
def test_every_event_round_trips(cls: type[Event]) -> None:
    env = _envelope(cls)
    assert all(isinstance(value, str) for value in env.headers.values())
    received = read_amqp(env.body, env.headers, content_type=env.content_type)
    assert received.event == example_for(cls)
    assert received.attributes.id == env.message_id
    assert received.attributes.type == cls.ce_type()
    assert received.attributes.time == example_for(cls).occurred_at


def test_event_ids_are_unique_by_default_and_overridable() -> None:
    assert _envelope().message_id != _envelope().message_id
    assert _envelope(event_id="outbox-42").headers["cloudEvents_id"] == "outbox-42"


def test_subject_and_time_can_be_overridden() -> None:
    when = dt.datetime(2025, 1, 2, 4, 5, 6, 789000, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    env = _envelope(subject="custom", time=when)
    assert env.headers["cloudEvents_subject"] == "custom"
    assert env.headers["cloudEvents_time"] == "2025-01-02T02:05:06.789000Z"
    with pytest.raises(ValueError, match="naive"):
        _envelope(time=dt.datetime(2025, 1, 2))


def test_source_is_required() -> None:
    with pytest.raises(ValueError, match="source"):
        to_amqp(example_for(PublishRequested), source="")


def test_both_header_prefixes_and_bytes_values_are_read() -> None:
    env = _envelope()
    colon = {key.replace("cloudEvents_", "cloudEvents:"): value.encode() for key, value in env.headers.items()}
    assert from_amqp(env.body, colon) == example_for(PublishRequested)


def test_time_may_be_an_amqp_timestamp_in_milliseconds() -> None:
    headers = {**_envelope().headers, "cloudEvents_time": 1741944600000}
    received = read_amqp(_envelope().body, headers)
    assert received.attributes.time == dt.datetime(2025, 3, 14, 9, 30, tzinfo=dt.UTC)


def test_other_headers_are_ignored() -> None:
    env = _envelope()
    headers = {**env.headers, "x-death": [{"count": 1}], "retry-count": 2, "traceparent": "00-abc-def-01"}
    assert from_amqp(env.body, headers) == example_for(PublishRequested)


@pytest.mark.parametrize("header", ["id", "source", "type", "specversion"])
def test_missing_required_header_is_malformed(header: str) -> None:
    env = _envelope()
    headers = {k: v for k, v in env.headers.items() if k != f"cloudEvents_{header}"}
    with pytest.raises(MalformedEvent, match=f"missing CloudEvents header.*cloudEvents_{header}"):
        from_amqp(env.body, headers)


def test_no_headers_at_all_names_every_missing_one() -> None:
    with pytest.raises(MalformedEvent) as caught:
        from_amqp(b"{}", {})
    assert str(caught.value) == (
        "missing CloudEvents header(s): cloudEvents_id, cloudEvents_source, cloudEvents_type, cloudEvents_specversion"
    )


def test_wrong_specversion_is_malformed() -> None:
    env = _envelope()
    with pytest.raises(MalformedEvent, match=r"unsupported CloudEvents specversion '0\.3'"):
        from_amqp(env.body, {**env.headers, "cloudEvents_specversion": "0.3"})


@pytest.mark.parametrize("ce_type", ["com.herald.publish.requested.v9", "com.example.other.v1", "publish.requested"])
def test_unknown_type_or_version(ce_type: str) -> None:
    env = _envelope()
    with pytest.raises(UnknownEventType, match="unknown event type") as caught:
        from_amqp(env.body, {**env.headers, "cloudEvents_type": ce_type})
    assert caught.value.ce_type == ce_type
    assert ce_type in str(caught.value)
    assert caught.value.park_category is ParkCategory.UNKNOWN_TYPE


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "body is not valid JSON"),
        (b"\xff\xfe", "body is not valid JSON"),
        (b"", "body is not valid JSON"),
        (b"[1, 2]", "body is a JSON list, expected an object"),
    ],
)
def test_bad_body_is_malformed(body: bytes, message: str) -> None:
    with pytest.raises(MalformedEvent, match=message) as caught:
        from_amqp(body, _envelope().headers)
    assert str(caught.value).startswith("com.herald.publish.requested.v2: ")
    assert caught.value.park_category is ParkCategory.MALFORMED


def test_validation_errors_name_the_fields() -> None:
    env = _envelope()
    data = json.loads(env.body)
    del data["team_id"]
    data["occurred_at"] = "2025-03-14T09:30:00"
    with pytest.raises(MalformedEvent) as caught:
        from_amqp(json.dumps(data).encode(), env.headers)
    reason = str(caught.value)
    assert reason.startswith("com.herald.publish.requested.v2: invalid payload: ")
    assert "occurred_at: Input should have timezone info" in reason
    assert "team_id: Field required" in reason


def test_many_validation_errors_are_summarised() -> None:
    env = _envelope()
    with pytest.raises(MalformedEvent) as caught:
        from_amqp(b"{}", env.headers)
    assert str(caught.value).endswith("more")
    assert len(str(caught.value)) < 2000  # fits MessageParked.reason


def test_non_json_content_type_is_malformed() -> None:
    env = _envelope()
    assert from_amqp(env.body, env.headers, content_type="application/json; charset=utf-8")
    with pytest.raises(MalformedEvent, match="content type 'text/plain' is not application/json"):
        from_amqp(env.body, env.headers, content_type="text/plain")


@pytest.mark.parametrize("bad", ["yesterday", "2025-03-14T09:30:00", 10**20, float("nan"), b"\xff"])
def test_bad_time_header_is_malformed(bad: object) -> None:
    env = _envelope()
    with pytest.raises(MalformedEvent, match=r"cloudEvents_time|not UTF-8"):
        from_amqp(env.body, {**env.headers, "cloudEvents_time": bad})


def test_non_text_header_values_are_malformed() -> None:
    env = _envelope()
    with pytest.raises(MalformedEvent, match="header cloudEvents_id is not UTF-8 text"):
        from_amqp(env.body, {**env.headers, "cloudEvents_id": b"\xff\xfe"})
    with pytest.raises(MalformedEvent, match="is not a string"):
        from_amqp(env.body, {**env.headers, "cloudEvents_source": 42})


def test_reasons_are_short_enough_to_park_with() -> None:
    env = _envelope()
    with pytest.raises(UnknownEventType) as caught:
        from_amqp(env.body, {**env.headers, "cloudEvents_type": "x" * 5000})
    reason = str(caught.value)
    assert len(reason) == 1000
    assert reason.endswith("...")
    MessageParked(
        correlation_id="c",
        actor="service:publisher-x",
        occurred_at=dt.datetime.now(dt.UTC),
        routing_key="publish.requested.v2.x",
        queue="publisher.x",
        category=caught.value.park_category,
        reason=reason,
    )


def test_only_registered_event_classes_can_be_sent() -> None:
    class Unregistered(PublishRequested):
        VERSION = 7

    event = Unregistered.model_validate(example_for(PublishRequested).model_dump())
    with pytest.raises(
        ValueError, match=re.escape("Unregistered is not the registered class for com.herald.publish.requested.v7")
    ):
        to_amqp(event, source=SOURCE)


def test_both_errors_are_contract_errors() -> None:
    assert issubclass(UnknownEventType, ContractError)
    assert issubclass(MalformedEvent, ContractError)
    assert not issubclass(MalformedEvent, UnknownEventType)
