"""The registry knows every event class, under a well-formed, versioned CloudEvents type."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest

import herald.contracts
from herald.contracts import EVENT_CLASSES, REGISTRY, UnknownEventType, event_class
from herald.contracts.base import Event
from herald.contracts.registry import lookup

REQUIRED_TYPES = {
    "com.herald.distribution.scheduled.v1",
    "com.herald.distribution.rescheduled.v1",
    "com.herald.distribution.cancelled.v1",
    "com.herald.distribution.missed.v1",
    "com.herald.content.approved.v1",
    "com.herald.content.approval_withdrawn.v1",
    "com.herald.publish.requested.v1",
    "com.herald.publish.requested.v2",
    "com.herald.publish.succeeded.v1",
    "com.herald.publish.retry_scheduled.v1",
    "com.herald.publish.failed.v1",
    "com.herald.publish.unconfirmed.v1",
    "com.herald.account.connected.v1",
    "com.herald.account.disconnected.v1",
    "com.herald.account.reauth_required.v1",
    "com.herald.token.refreshed.v1",
    "com.herald.token.refresh_failed.v1",
    "com.herald.message.parked.v1",
    "com.herald.message.replayed.v1",
    "com.herald.message.purged.v1",
    "com.herald.api_key.created.v1",
    "com.herald.api_key.revoked.v1",
    "com.herald.media.uploaded.v1",
    "com.herald.media.deleted.v1",
    "com.herald.media.cleaned_up.v1",
}
CE_TYPE = re.compile(r"^com\.herald\.[a-z]+(_[a-z]+)*\.[a-z]+(_[a-z]+)*\.v[1-9][0-9]*$")


def _concrete_event_classes() -> set[type[Event]]:
    """Every class with a TYPE defined in any module of the package."""
    found: set[type[Event]] = set()
    for module_info in pkgutil.iter_modules(herald.contracts.__path__, "herald.contracts."):
        module = importlib.import_module(module_info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Event) and "TYPE" in vars(obj):
                found.add(obj)
    return found


def test_every_required_event_is_registered() -> None:
    assert set(REGISTRY) == REQUIRED_TYPES


def test_every_event_class_in_the_package_is_registered() -> None:
    assert _concrete_event_classes() == set(REGISTRY.values())


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.ce_type())
def test_types_are_versioned_and_well_formed(cls: type[Event]) -> None:
    assert CE_TYPE.match(cls.ce_type())
    assert cls.ce_type() == f"{cls.TYPE}.v{cls.VERSION}"
    assert event_class(cls.ce_type()) is cls
    assert lookup(cls.TYPE, cls.VERSION) is cls
    assert cls.PRODUCERS
    assert cls.CONSUMERS
    assert cls.__doc__


def test_unknown_types_raise() -> None:
    with pytest.raises(UnknownEventType, match=r"com\.herald\.publish\.requested\.v9"):
        lookup("com.herald.publish.requested", 9)
    with pytest.raises(UnknownEventType):
        event_class("com.herald.publish.requested")


def test_registry_is_read_only() -> None:
    with pytest.raises(TypeError):
        REGISTRY["com.herald.x.v1"] = Event  # type: ignore[index]
