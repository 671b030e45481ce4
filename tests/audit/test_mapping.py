"""Every event type maps to an audit record; metadata follows the original system and never holds a secret."""

import datetime as dt
import uuid

import pytest

from herald.audit.mapping import DESCRIBERS, describe, scrub, to_record
from herald.audit.models import Action, Entity
from herald.contracts.base import Event
from herald.contracts.envelope import CloudEventAttributes, ReceivedEvent
from herald.contracts.examples import DISTRIBUTION_ID, TEAM_ID, UPLOAD_ID, VIDEO_ID, example_for
from herald.contracts.media import MediaCleanedUp, MediaDeleted, MediaUploaded
from herald.contracts.operations import MessageParked
from herald.contracts.publishing import (
    PublishFailed,
    PublishRequested,
    PublishRequestedV1,
    PublishRetryScheduled,
    PublishSucceeded,
)
from herald.contracts.registry import EVENT_CLASSES, AnyEvent
from herald.kit.logging import REDACTED


def _received(event: AnyEvent, event_id: str = "evt-1") -> ReceivedEvent:
    attributes = CloudEventAttributes(id=event_id, source="/herald/test", type=event.ce_type(), specversion="1.0")
    return ReceivedEvent(event=event, attributes=attributes)


@pytest.mark.parametrize("event_cls", EVENT_CLASSES, ids=lambda cls: cls.ce_type())
def test_every_registered_event_type_has_its_own_mapping(event_cls: type[Event]) -> None:
    assert event_cls in DESCRIBERS, f"{event_cls.__name__} has no audit mapping in herald.audit.mapping.DESCRIBERS"
    description = describe(example_for(event_cls))
    assert description.action is not Action.EVENT_RECORDED
    assert description.entity is not Entity.EVENT
    assert description.entity_id


def test_each_event_type_has_a_distinct_action() -> None:
    # Versions of one type (publish.requested v1 and v2) record the same action; different types never do.
    actions = {cls.TYPE: describe(example_for(cls)).action for cls in EVENT_CLASSES}
    assert len(set(actions.values())) == len(actions)
    assert set(actions.values()) | {Action.EVENT_RECORDED} == set(Action)
    for cls in EVENT_CLASSES:
        assert describe(example_for(cls)).action is actions[cls.TYPE]


def test_an_unmapped_event_type_is_still_recorded_generically() -> None:
    class FutureEvent(Event):
        TYPE = "com.herald.future.happened"
        VERSION = 1
        SUBJECT_FIELD = "thing_id"
        thing_id: str

    event = FutureEvent(
        thing_id="t-1", correlation_id="c", actor="system", occurred_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    )
    description = describe(event)
    assert (description.action, description.entity, description.entity_id) == (
        Action.EVENT_RECORDED,
        Entity.EVENT,
        "t-1",
    )
    assert description.metadata == {"Type": "com.herald.future.happened.v1"}


def test_a_publish_is_recorded_like_the_original_system() -> None:
    event = example_for(PublishSucceeded)
    record = to_record(_received(event))
    assert record.action == "content_published"
    assert record.entity == "ContentDistribution"
    assert record.entity_id == str(DISTRIBUTION_ID)
    assert record.team_id == TEAM_ID
    assert record.platform == "linkedin"
    assert record.actor == "service:publisher-linkedin"
    assert record.event_id == "evt-1"
    assert record.occurred_at == event.occurred_at
    assert record.metadata["DistributionId"] == str(DISTRIBUTION_ID)
    assert record.metadata["Platform"] == "linkedin"
    assert record.metadata["ExternalPostId"] == event.external_post_id
    assert record.metadata["Title"] == "Spring launch"
    assert record.metadata["PublishedAt"] == "2025-03-14T09:36:00Z"
    assert record.metadata["Attempt"] == 2


def test_a_failure_records_error_class_status_excerpt_and_attempt() -> None:
    event = for_failure(response_excerpt="x" * 500, http_status=503, error_class="server_error", attempt=3)
    metadata = to_record(_received(event)).metadata
    assert metadata["ErrorClass"] == "server_error"
    assert metadata["HttpStatus"] == 503
    assert metadata["Attempt"] == 3
    assert metadata["ResponseExcerpt"] == "x" * 200  # short: for diagnosis, not a copy of the response
    retry = to_record(_received(example_for(PublishRetryScheduled))).metadata
    assert (retry["ErrorClass"], retry["HttpStatus"], retry["Attempt"]) == ("retry_later", 429, 1)


def for_failure(**changes: object) -> PublishFailed:
    return PublishFailed.model_validate({**example_for(PublishFailed).model_dump(), **changes})


def test_secrets_in_event_text_are_redacted_before_storage() -> None:
    leaked_key = "hk_abcdef012345_" + "s" * 43
    event = for_failure(
        message=f"upstream said: Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig key={leaked_key}",
        response_excerpt='{"error":"invalid","access_token":"ya29.A0ARrdaM-very-secret","refresh_token":"1//0g-secret"}',
    )
    stored = str(to_record(_received(event)).metadata)
    for secret in ("eyJhbGciOiJIUzI1NiJ9", "ya29.A0ARrdaM-very-secret", "1//0g-secret", leaked_key):
        assert secret not in stored
    assert REDACTED in stored


def test_scrub_blanks_secret_named_fields_and_strips_nul() -> None:
    cleaned = scrub({"Nested": {"client_secret": "abc", "AccessToken": "t0k3n"}, "Title": "a\x00b", "List": ["ok"]})
    assert cleaned == {
        "Nested": {"client_secret": REDACTED, "AccessToken": REDACTED},
        "Title": "a\ufffdb",
        "List": ["ok"],
    }


def test_message_parked_without_a_team_is_recorded_without_one() -> None:
    parked = MessageParked.model_validate({**example_for(MessageParked).model_dump(), "team_id": None})
    record = to_record(_received(parked, event_id=str(uuid.uuid4())))
    assert record.team_id is None
    assert record.action == "message_parked"
    assert record.entity == "Message"
    assert record.metadata["Queue"] == "publisher.linkedin"


def test_a_v2_publish_request_records_surface_and_media_ids_but_no_alt_text_or_text() -> None:
    event = example_for(PublishRequested)
    metadata = to_record(_received(event)).metadata
    assert metadata["Surface"] == "default"
    assert metadata["Media"] == [{"MediaId": str(item.media_id), "Kind": item.kind.value} for item in event.media]
    assert event.text not in str(metadata)
    assert all(item.alt_text is None or item.alt_text not in str(metadata) for item in event.media)


def test_a_v1_publish_request_is_recorded_as_before() -> None:
    record = to_record(_received(example_for(PublishRequestedV1)))
    assert record.action == "publish_requested"
    assert "Media" not in record.metadata
    assert "Surface" not in record.metadata


def test_media_events_are_recorded_on_the_media_entity() -> None:
    uploaded = to_record(_received(example_for(MediaUploaded)))
    assert (uploaded.action, uploaded.entity, uploaded.entity_id) == ("media_uploaded", "Media", str(VIDEO_ID))
    assert uploaded.metadata["Sha256"] == example_for(MediaUploaded).sha256
    assert uploaded.metadata["DurationMs"] == 42_500
    deleted = to_record(_received(example_for(MediaDeleted)))
    assert (deleted.action, deleted.metadata["Reason"]) == ("media_deleted", "deleted by user")
    cleaned = to_record(_received(example_for(MediaCleanedUp)))
    assert (cleaned.action, cleaned.entity_id) == ("media_cleaned_up", str(UPLOAD_ID))
    assert (cleaned.metadata["Category"], cleaned.metadata["BytesFreed"]) == ("abandoned_upload", 5_242_880)
