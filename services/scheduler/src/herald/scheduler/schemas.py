"""The HTTP API's request and response bodies (what OpenAPI documents)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

from herald.contracts.media import MAX_MEDIA_ITEMS, MediaKind, MediaReference
from herald.contracts.platform import Platform
from herald.contracts.publishing import OverLengthPolicy
from herald.kit.api import ApiModel, WholeNumber
from herald.scheduler.models import (
    Attempt,
    Content,
    ContentStatus,
    Distribution,
    DistributionStatus,
    DstResolution,
    MisfirePolicy,
    Outcome,
)
from herald.scheduler.timezones import RequestedTime

Title = Annotated[str, Field(min_length=1, max_length=300)]
Text = Annotated[str, Field(min_length=1, max_length=100_000)]
# No whitespace or control character, spelt out so that Python, Rust (pydantic) and ECMA (JSON Schema) regexes agree.
Link = Annotated[
    str,
    Field(
        pattern=r"^https?://[^\s\x00-\x1f\x7f-\x9f\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff]+$",
        max_length=2048,
    ),
]
Reason = Annotated[str, Field(min_length=1, max_length=2000)]
AltText = Annotated[str, Field(min_length=1, max_length=1000)]


class _Request(ApiModel):
    """A request body: unknown fields and text PostgreSQL cannot store answer 422 (see :class:`ApiModel`)."""


class MediaItemIn(_Request):
    media_id: uuid.UUID = Field(description="The media service's id of an item this team uploaded.")
    alt_text: AltText | None = Field(default=None, description="What the item shows, for screen readers.")


MediaList = Annotated[
    list[MediaItemIn],
    Field(
        max_length=MAX_MEDIA_ITEMS,
        description=f"Up to {MAX_MEDIA_ITEMS} media items, in posting order, each at most once. The ids are checked"
        " with the media service now (unknown ids: 422; media service unavailable: 503); each platform's media"
        " rules are checked when the content is scheduled there.",
    ),
]


def _distinct(items: list[MediaItemIn] | None) -> list[MediaItemIn] | None:
    if items is not None:
        seen: set[uuid.UUID] = set()
        for item in items:
            if item.media_id in seen:
                raise ValueError(f"media_id {item.media_id} is listed twice")
            seen.add(item.media_id)
    return items


class NewContentIn(_Request):
    title: Title
    text: Text
    """The text to post; each platform's rules are checked when it is scheduled there."""
    link: Link | None = None
    media: MediaList = Field(default_factory=list)

    @field_validator("media")
    @classmethod
    def _distinct_media(cls, items: list[MediaItemIn]) -> list[MediaItemIn]:
        return _distinct(items) or []


class ContentPatchIn(_Request):
    """Only the fields sent are changed; ``"link": null`` removes the link; ``"media": []`` removes the media."""

    title: Title | None = None
    text: Text | None = None
    link: Link | None = None
    media: MediaList | None = None

    @field_validator("media")
    @classmethod
    def _distinct_media(cls, items: list[MediaItemIn] | None) -> list[MediaItemIn] | None:
        return _distinct(items)


class ReasonIn(_Request):
    reason: Reason | None = None


class TimeIn(_Request):
    """When to publish: ``publish_at`` with a UTC offset, or ``local_time`` plus ``timezone``."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [{"required": ["publish_at"]}, {"required": ["local_time", "timezone"]}],
            "not": {"required": ["publish_at", "local_time"]},
        }
    )

    publish_at: str | None = Field(
        default=None,
        description="ISO-8601 date-time with a UTC offset.",
        examples=["2030-06-01T09:00:00+02:00", "2030-06-01T07:00:00Z"],
    )
    local_time: str | None = Field(
        default=None,
        description="ISO-8601 wall-clock date-time without offset, read in `timezone`.",
        examples=["2030-06-01T09:00:00"],
    )
    timezone: str | None = Field(
        default=None,
        description="IANA zone name; required with `local_time`, kept for display with `publish_at`.",
        examples=["Europe/Berlin"],
    )
    dst_resolution: DstResolution = Field(
        default=DstResolution.REJECT,
        description=(
            "For a `local_time` that a DST change makes ambiguous (it happens twice) or nonexistent (it is skipped):"
            " `reject` answers 422; `earlier` / `later` pick the earlier / later of the two instants obtained by"
            " reading the wall time with the offsets in force before and after the change. For an ambiguous time"
            " that is its first / second occurrence; for a skipped time (e.g. 02:30 when clocks jump from 02:00 to"
            " 03:00) `earlier` gives 01:30 before the change and `later` gives 03:30 after it."
        ),
    )

    def requested(self) -> RequestedTime:
        return RequestedTime(self.publish_at, self.local_time, self.timezone, self.dst_resolution)


class RetryPolicyIn(_Request):
    max_attempts: WholeNumber = Field(default=5, ge=1, le=20)
    base_delay_seconds: WholeNumber = Field(default=300, ge=1, le=86_400, description="Later delays double.")


class MisfireIn(_Request):
    policy: MisfirePolicy = Field(
        default=MisfirePolicy.PUBLISH_LATE,
        description="If the scheduler finds the distribution overdue by more than its misfire threshold (60 s)"
        " (e.g. after an outage): `publish_late` publishes it if it is within `window_seconds`, else marks it"
        " missed; `skip` marks it missed.",
    )
    window_seconds: WholeNumber | None = Field(
        default=None, ge=0, le=30 * 86_400, description="For `publish_late`; the service default is 24 h."
    )


class ScheduleIn(TimeIn):
    content_id: uuid.UUID
    platform: Platform
    account_id: uuid.UUID = Field(description="Herald's id of a connected account of this team on `platform`.")
    retry: RetryPolicyIn = Field(default_factory=RetryPolicyIn)
    misfire: MisfireIn = Field(default_factory=MisfireIn)
    over_length: OverLengthPolicy = Field(
        default=OverLengthPolicy.REJECT,
        description="X only: what to do with text over the limit (`reject`, `truncate` or `thread`).",
    )


class MediaOut(BaseModel):
    """A media item of the content: what the media service said about it when it was attached."""

    media_id: uuid.UUID
    kind: MediaKind
    content_type: str
    size_bytes: int
    sha256: str
    width: int | None
    height: int | None
    duration_ms: int | None
    alt_text: str | None

    @classmethod
    def of(cls, item: MediaReference) -> MediaOut:
        return cls.model_validate(item.model_dump(exclude={"storage_key"}))


class ContentOut(BaseModel):
    content_id: uuid.UUID
    title: str
    text: str
    link: str | None
    media: list[MediaOut] = Field(description="Its media items in posting order (empty for a text-only post).")
    status: ContentStatus
    approved_at: dt.datetime | None
    archived_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, content: Content) -> ContentOut:
        return cls(
            content_id=content.content_id,
            title=content.title,
            text=content.text,
            link=content.link,
            media=[MediaOut.of(item) for item in content.media],
            status=content.status,
            approved_at=content.approved_at,
            archived_at=content.archived_at,
            created_at=content.created_at,
            updated_at=content.updated_at,
        )


class RetryPolicyOut(BaseModel):
    max_attempts: int
    base_delay_seconds: int


class MisfireOut(BaseModel):
    policy: MisfirePolicy
    window_seconds: int


class DistributionOut(BaseModel):
    distribution_id: uuid.UUID
    content_id: uuid.UUID
    account_id: uuid.UUID
    platform: Platform
    status: DistributionStatus
    scheduled_at: dt.datetime = Field(description="When it is due (UTC).")
    timezone: str | None = Field(description="The zone it was scheduled in, if any.")
    scheduled_at_local: str | None = Field(description="`scheduled_at` in `timezone`, for display.")
    retry: RetryPolicyOut
    misfire: MisfireOut
    over_length: OverLengthPolicy
    requested_at: dt.datetime | None = Field(description="When it was handed to the publisher.")
    attempts_made: int
    next_attempt_at: dt.datetime | None
    external_post_id: str | None
    post_url: str | None
    published_at: dt.datetime | None
    failure_reason: str | None
    failure_message: str | None
    cancel_reason: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, d: Distribution) -> DistributionOut:
        return cls(
            distribution_id=d.distribution_id,
            content_id=d.content_id,
            account_id=d.account_id,
            platform=d.platform,
            status=d.status,
            scheduled_at=d.scheduled_at,
            timezone=d.timezone,
            scheduled_at_local=d.scheduled_at.astimezone(ZoneInfo(d.timezone)).isoformat() if d.timezone else None,
            retry=RetryPolicyOut(max_attempts=d.max_attempts, base_delay_seconds=d.base_delay_seconds),
            misfire=MisfireOut(policy=d.misfire_policy, window_seconds=d.misfire_window_seconds),
            over_length=d.over_length,
            requested_at=d.requested_at,
            attempts_made=d.last_attempt,
            next_attempt_at=d.next_attempt_at,
            external_post_id=d.external_post_id,
            post_url=d.post_url,
            published_at=d.published_at,
            failure_reason=d.failure_reason,
            failure_message=d.failure_message,
            cancel_reason=d.cancel_reason,
            created_at=d.created_at,
            updated_at=d.updated_at,
        )


class AttemptOut(BaseModel):
    """One publish outcome event received for the distribution."""

    event_id: str
    attempt: int
    outcome: Outcome
    occurred_at: dt.datetime
    received_at: dt.datetime
    applied: bool = Field(description="False if it arrived out of order and did not change the status.")
    error_class: str | None
    message: str | None
    http_status: int | None
    next_attempt_at: dt.datetime | None
    external_post_id: str | None
    url: str | None

    @classmethod
    def of(cls, a: Attempt) -> AttemptOut:
        return cls(
            event_id=a.event_id,
            attempt=a.attempt,
            outcome=a.outcome,
            occurred_at=a.occurred_at,
            received_at=a.received_at,
            applied=a.applied,
            error_class=a.error_class,
            message=a.message,
            http_status=a.http_status,
            next_attempt_at=a.next_attempt_at,
            external_post_id=a.external_post_id,
            url=a.url,
        )


class DistributionDetailOut(DistributionOut):
    attempts: list[AttemptOut]

    @classmethod
    def with_attempts(cls, d: Distribution, attempts: list[Attempt]) -> DistributionDetailOut:
        return cls(**DistributionOut.of(d).model_dump(), attempts=[AttemptOut.of(a) for a in attempts])


class DistributionPageOut(BaseModel):
    items: list[DistributionOut]
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null on the last page.")


# -- bulk scheduling ------------------------------------------------------------------------------------------

BULK_MAX_ITEMS = 1000
"""Distributions one bulk request may schedule (more is a 422 on ``items``)."""


class BulkScheduleIn(_Request):
    """Many distributions at once, all or none. Each item is exactly the body of ``POST /v1/distributions``, so
    each can have its own content, account, time and zone (e.g. one content item to many accounts, each at 09:00
    in the account's own ``timezone``)."""

    items: list[ScheduleIn] = Field(
        min_length=1,
        max_length=BULK_MAX_ITEMS,
        description=f"1 to {BULK_MAX_ITEMS} distributions, each checked like a single schedule.",
    )


class BulkScheduleOut(BaseModel):
    items: list[DistributionOut] = Field(description="The distributions created, in the order of the request's items.")


class ProblemOut(BaseModel):
    """One thing wrong with a request (FastAPI's validation error item)."""

    loc: list[str | int] = Field(
        description='Where: e.g. `["body", "publish_at"]`, or `["body", "items", 3, "account_id"]` for the item at'
        " index 3 of a bulk request.",
        examples=[["body", "items", 3, "account_id"]],
    )
    msg: str = Field(examples=["no such connected account for this team (connect it first)"])
    type: str = Field(description="`value_error` for checks of the scheduler; pydantic's error type otherwise.")


class ProblemsOut(BaseModel):
    """A 422: every problem found (for a bulk request, in every failing item; then nothing was scheduled)."""

    detail: list[ProblemOut]


# -- internal API (other services) ----------------------------------------------------------------------------


class HolderOut(BaseModel):
    distribution_id: uuid.UUID
    content_id: uuid.UUID
    status: DistributionStatus
    scheduled_at: dt.datetime


class HoldersOut(BaseModel):
    """The distributions not yet published, failed, cancelled or missed whose content uses the media item."""

    distributions: list[HolderOut]
