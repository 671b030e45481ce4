"""The media service's audit events: what an auditor needs, about one media item or cleaned target, no URLs."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from herald.contracts import (
    AccountConnected,
    CleanupCategory,
    MediaCleanedUp,
    MediaDeleted,
    MediaUploaded,
    Surface,
    from_amqp,
    service_source,
    to_amqp,
)
from herald.contracts.base import Event
from herald.contracts.examples import IMAGE_ID, UPLOAD_ID, VIDEO_ID, example_for

MEDIA_EVENTS: tuple[type[Event], ...] = (MediaUploaded, MediaDeleted, MediaCleanedUp)


@pytest.mark.parametrize("cls", MEDIA_EVENTS, ids=lambda c: c.ce_type())
def test_media_events_go_from_the_media_service_to_audit_unrouted_by_platform(cls: type[Event]) -> None:
    assert cls.PRODUCERS == ("media",)
    assert cls.CONSUMERS == ("audit",)
    envelope = to_amqp(example_for(cls), source=service_source("media"))
    assert envelope.routing_key == cls.ce_type().removeprefix("com.herald.")
    assert from_amqp(envelope.body, envelope.headers) == example_for(cls)


@pytest.mark.parametrize(
    ("cls", "subject"),
    [(MediaUploaded, VIDEO_ID), (MediaDeleted, IMAGE_ID), (MediaCleanedUp, UPLOAD_ID)],
)
def test_the_subject_is_the_media_item_or_the_cleaned_target(cls: type[Event], subject: object) -> None:
    assert example_for(cls).ce_subject() == str(subject)


@pytest.mark.parametrize("cls", MEDIA_EVENTS, ids=lambda c: c.ce_type())
def test_no_media_event_has_a_url_field(cls: type[Event]) -> None:
    assert not [name for name in cls.model_fields if "url" in name or "link" in name]


def test_cleanup_categories_are_the_two_the_cleanup_knows() -> None:
    assert {c.value for c in CleanupCategory} == {"abandoned_upload", "orphaned_object"}


def _payload(cls: type[Event], **overrides: Any) -> dict[str, Any]:
    return example_for(cls).model_dump(mode="json") | overrides


@pytest.mark.parametrize(
    ("cls", "field", "bad"),
    [
        (MediaUploaded, "sha256", "ABC"),
        (MediaUploaded, "size_bytes", 0),
        (MediaUploaded, "content_type", "application/pdf"),
        (MediaDeleted, "reason", ""),
        (MediaCleanedUp, "bytes_freed", -1),
        (MediaCleanedUp, "category", "expired"),
    ],
)
def test_invalid_fields_are_named(cls: type[Event], field: str, bad: object) -> None:
    with pytest.raises(ValidationError, match=field):
        cls.model_validate(_payload(cls, **{field: bad}))


def test_account_connected_surface_is_optional_growth() -> None:
    without = _payload(AccountConnected)
    del without["surface"]
    assert AccountConnected.model_validate(without).surface is None
    assert AccountConnected.model_validate(_payload(AccountConnected, surface="instagram")).surface is Surface.INSTAGRAM
