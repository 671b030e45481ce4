"""Routing keys and binding patterns, checked with RabbitMQ's topic matching rules."""

from __future__ import annotations

import pytest

from herald.contracts import (
    AUDIT_BINDING,
    DEAD_LETTER_EXCHANGE,
    EVENT_CLASSES,
    EVENTS_EXCHANGE,
    PUBLISH_OUTCOME_BINDINGS,
    ContentApproved,
    MessageParked,
    Platform,
    PublishFailed,
    PublishRequested,
    PublishSucceeded,
    binding_key,
    dead_letter_routing_key,
    publish_requested_binding,
    routing_key,
)
from herald.contracts.base import Event
from herald.contracts.examples import example_for
from herald.contracts.routing import is_platform_routed


def topic_matches(pattern: str, key: str) -> bool:
    """RabbitMQ topic exchange matching: ``*`` is exactly one word, ``#`` is zero or more words."""

    def match(p: list[str], k: list[str]) -> bool:
        if not p:
            return not k
        if p[0] == "#":
            return any(match(p[1:], k[i:]) for i in range(len(k) + 1))
        return bool(k) and p[0] in ("*", k[0]) and match(p[1:], k[1:])

    return match(pattern.split("."), key.split("."))


def _keys(cls: type[Event]) -> dict[Platform | None, str]:
    example = example_for(cls)
    if not is_platform_routed(cls):
        return {None: routing_key(example)}
    return {p: routing_key(example.model_copy(update={"platform": p})) for p in Platform}


def test_topic_matcher_itself() -> None:
    assert topic_matches("#", "a.b.c")
    assert topic_matches("a.*.c", "a.b.c")
    assert not topic_matches("a.*", "a.b.c")
    assert topic_matches("a.#", "a")
    assert not topic_matches("a.b", "a.b.c")


def test_exchange_names() -> None:
    assert EVENTS_EXCHANGE == "herald.events"
    assert DEAD_LETTER_EXCHANGE == "herald.dlx"
    assert dead_letter_routing_key("publisher.x") == "publisher.x.dead"


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (PublishRequested, "publish.requested.v2.linkedin"),
        (PublishFailed, "publish.failed.v1.linkedin"),
        (ContentApproved, "content.approved.v1"),
        (MessageParked, "message.parked.v1"),
    ],
)
def test_routing_key_is_derived_from_type_version_and_platform(cls: type[Event], expected: str) -> None:
    assert routing_key(example_for(cls)) == expected


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.ce_type())
def test_every_routing_key_is_type_without_prefix(cls: type[Event]) -> None:
    for platform, key in _keys(cls).items():
        expected = cls.ce_type().removeprefix("com.herald.")
        assert key == (expected if platform is None else f"{expected}.{platform.value}")
        assert not {"#", "*"} & set(key.split("."))


@pytest.mark.parametrize("platform", list(Platform))
def test_each_publisher_receives_only_its_platform(platform: Platform) -> None:
    binding = publish_requested_binding(platform)
    for other, key in _keys(PublishRequested).items():
        assert topic_matches(binding, key) is (other is platform)
    for cls in EVENT_CLASSES:
        if cls is not PublishRequested:
            assert not any(topic_matches(binding, key) for key in _keys(cls).values())


def test_scheduler_outcome_bindings_match_exactly_the_publish_outcomes() -> None:
    outcomes = {
        "com.herald.publish." + name + ".v1" for name in ("succeeded", "retry_scheduled", "failed", "unconfirmed")
    }
    for cls in EVENT_CLASSES:
        for key in _keys(cls).values():
            matched = any(topic_matches(binding, key) for binding in PUBLISH_OUTCOME_BINDINGS)
            assert matched is (cls.ce_type() in outcomes), key


def test_audit_receives_everything() -> None:
    assert all(topic_matches(AUDIT_BINDING, key) for cls in EVENT_CLASSES for key in _keys(cls).values())


def test_binding_key_for_one_or_all_platforms() -> None:
    assert binding_key(PublishSucceeded) == "publish.succeeded.v1.*"
    assert binding_key(PublishSucceeded, Platform.META) == "publish.succeeded.v1.meta"
    assert binding_key(ContentApproved) == "content.approved.v1"
    with pytest.raises(ValueError, match="not routed by platform"):
        binding_key(ContentApproved, Platform.X)


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.ce_type())
def test_binding_key_matches_only_its_own_event_version(cls: type[Event]) -> None:
    for other in EVENT_CLASSES:
        for key in _keys(other).values():
            assert topic_matches(binding_key(cls), key) is (other is cls), (binding_key(cls), key)
