"""Interoperability with the CloudEvents Python SDK 2.2 AMQP binding, in both directions."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from cloudevents.core.bindings import amqp
from cloudevents.core.bindings.amqp import AMQPMessage
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from herald.contracts import EVENT_CLASSES, MalformedEvent, from_amqp, read_amqp, to_amqp
from herald.contracts.base import Event
from herald.contracts.examples import example_for
from herald.contracts.schemas import dataschema


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.ce_type())
def test_sdk_consumer_reads_every_event(cls: type[Event]) -> None:
    example = example_for(cls)
    env = to_amqp(example, source="/herald/tests", event_id="evt-1")
    message = AMQPMessage(
        properties={"content-type": env.content_type},
        application_properties=dict(env.headers),
        application_data=env.body,
    )

    event = amqp.from_binary(message, JSONFormat())

    assert event.get_id() == "evt-1" == env.message_id
    assert event.get_source() == "/herald/tests"
    assert event.get_type() == cls.ce_type()
    assert event.get_specversion() == "1.0"
    assert event.get_time() == example.occurred_at
    assert event.get_subject() == example.ce_subject()
    assert event.get_dataschema() == dataschema(cls)
    assert event.get_datacontenttype() == "application/json"
    data = event.get_data()
    assert data == json.loads(env.body)
    assert cls.model_validate(data) == example


def test_herald_reads_what_the_sdk_writes() -> None:
    example = example_for(EVENT_CLASSES[0])
    sdk_event = CloudEvent(
        attributes={
            "id": "sdk-1",
            "source": "/elsewhere",
            "type": type(example).ce_type(),
            "time": dt.datetime(2025, 3, 14, 9, 30, tzinfo=dt.UTC),
            "datacontenttype": "application/json",
        },
        data=example.model_dump(mode="json"),
    )
    message = amqp.to_binary(sdk_event, JSONFormat())
    assert isinstance(message.application_properties["cloudEvents_time"], int)  # the SDK writes AMQP timestamps

    received = read_amqp(
        message.application_data,
        message.application_properties,
        content_type=message.properties["content-type"],
    )

    assert received.event == example
    assert received.attributes.id == "sdk-1"
    assert received.attributes.time == dt.datetime(2025, 3, 14, 9, 30, tzinfo=dt.UTC)


def test_sdk_structured_mode_is_not_mistaken_for_an_event() -> None:
    example = example_for(EVENT_CLASSES[0])
    sdk_event = CloudEvent(
        attributes={"id": "sdk-2", "source": "/elsewhere", "type": type(example).ce_type()},
        data=example.model_dump(mode="json"),
    )
    message = amqp.to_structured(sdk_event, JSONFormat())
    with pytest.raises(MalformedEvent, match="missing CloudEvents header"):
        from_amqp(message.application_data, message.application_properties)
