"""Publishing one distribution: the request to a platform publisher and every outcome it reports.

The scheduler sends :class:`PublishRequested` (version 2; :class:`PublishRequestedV1` is version 1, still read);
the publisher of that platform (``publisher-x``, ``publisher-linkedin``, ``publisher-meta``) answers with exactly
one terminal outcome per distribution (:class:`PublishSucceeded`, :class:`PublishFailed` or
:class:`PublishUnconfirmed`), possibly preceded by :class:`PublishRetryScheduled` events. Attempts are numbered
from 1.
"""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from pydantic import ConfigDict, Field

from herald.contracts.base import ShortText, TeamEvent, UtcDatetime
from herald.contracts.media import MAX_MEDIA_ITEMS, MediaReference, Surface
from herald.contracts.platform import Platform

_PUBLISHERS = ("publisher-x", "publisher-linkedin", "publisher-meta")
_OUTCOME_CONSUMERS = ("scheduler", "audit")


class OverLengthPolicy(StrEnum):
    """What to do with text longer than the platform allows (chosen per distribution)."""

    REJECT = "reject"
    """Fail the distribution with a permanent error."""
    TRUNCATE = "truncate"
    """Cut the text to fit."""
    THREAD = "thread"
    """Split the text into a thread (X only)."""


class FailureReason(StrEnum):
    """Why a distribution failed for good."""

    PERMANENT = "permanent"
    """A content or configuration error: sending the same request again cannot succeed."""
    RECONNECT_REQUIRED = "reconnect_required"
    """The account's authorization is gone; a human must reconnect it."""
    DUPLICATE = "duplicate"
    """The platform says this exact content was already posted."""
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"
    """Every allowed attempt failed with a retryable error."""
    CANCELLED = "cancelled"
    """The distribution was cancelled while it was being published or retried."""


class _PublishEvent(TeamEvent):
    """Fields shared by the publish events."""

    SUBJECT_FIELD = "distribution_id"

    distribution_id: UUID
    """The distribution being published (one content item on one account)."""
    content_id: UUID
    """The content item."""
    platform: Platform
    """The platform published to; also the last word of the routing key."""
    account_id: UUID
    """Herald's id of the connected account published as (not the platform's id)."""


class _PublishOutcome(_PublishEvent):
    """An outcome reported by a platform publisher."""

    PRODUCERS = _PUBLISHERS
    CONSUMERS = _OUTCOME_CONSUMERS

    attempt: int = Field(ge=1)
    """The attempt this outcome is about, counted from 1."""


class _PublishRequestFields(_PublishEvent):
    """The fields of every version of ``publish.requested``."""

    PRODUCERS = ("scheduler",)
    CONSUMERS = (*_PUBLISHERS, "audit")

    title: str
    """The content title (not posted; for notifications and audit)."""
    text: str = Field(min_length=1)
    """The text to post, before platform rules are applied."""
    link: str | None = Field(default=None, pattern=r"^https?://", max_length=2048)
    """A URL to attach, if any."""
    over_length: OverLengthPolicy = OverLengthPolicy.REJECT
    """What to do if ``text`` is longer than the platform allows."""
    scheduled_at: UtcDatetime
    """When the distribution was due (UTC)."""
    max_attempts: int = Field(default=5, ge=1, le=20)
    """How many attempts the publisher may make before failing with ``attempts_exhausted``."""
    base_delay_seconds: int = Field(default=300, ge=1)
    """The first retry delay; later delays double (capped by the publisher's retry tiers)."""


class PublishRequestedV1(_PublishRequestFields):
    """A distribution is due: the publisher of ``platform`` must publish it.

    Retries of this message are copies re-delivered through the publisher's delay queues (with a ``retry-count``
    header), not new events.
    """

    # Version 1 as published: same schema (and title) as before version 2 existed. Still read (retries of a v1
    # message already in a delay queue, a scheduler not yet upgraded); new requests are version 2.
    model_config = ConfigDict(title="PublishRequested")

    TYPE = "com.herald.publish.requested"
    VERSION = 1

    def upgrade(self) -> PublishRequested:
        """The same request as version 2, without media: what v1 always meant (Meta accounts were Facebook Pages)."""
        surface = Surface.FACEBOOK_PAGE if self.platform is Platform.META else Surface.DEFAULT
        return PublishRequested.model_validate({**self.model_dump(), "surface": surface})


class PublishRequested(_PublishRequestFields):
    """A distribution is due: the publisher of ``platform`` must publish it, on ``surface``, with ``media``.

    Version 2 = version 1 plus where on the platform to post and the media to attach (references to objects in
    Herald's media store, never the bytes). Retries of this message are copies re-delivered through the
    publisher's delay queues (with a ``retry-count`` header), not new events.
    """

    TYPE = "com.herald.publish.requested"
    VERSION = 2

    surface: Surface = Surface.DEFAULT
    """Where on the platform to publish: ``facebook_page`` or ``instagram`` for Meta accounts, else ``default``."""
    media: list[MediaReference] = Field(default_factory=list, max_length=MAX_MEDIA_ITEMS)
    """The media to attach, in posting order (at most 10); empty for a text-only post."""


class PublishSucceeded(_PublishOutcome):
    """The post is live on the platform."""

    TYPE = "com.herald.publish.succeeded"
    VERSION = 1

    external_post_id: str = Field(min_length=1)
    """The platform's id of the post."""
    url: str | None = None
    """A link to the post, if the platform gives one."""
    title: str
    """The content title, for notifications and audit."""
    published_at: UtcDatetime
    """When the platform says the post was created (UTC)."""
    scheduled_at: UtcDatetime
    """When the distribution was due (UTC)."""
    reconciled: bool = False
    """True when the post was found on the platform after an unknown outcome rather than created by this attempt."""


class PublishRetryScheduled(_PublishOutcome):
    """An attempt failed with a retryable error; the publisher will try again at ``next_attempt_at``."""

    TYPE = "com.herald.publish.retry_scheduled"
    VERSION = 1

    next_attempt_at: UtcDatetime
    """When the next attempt is due (UTC)."""
    delay_seconds: int = Field(ge=0)
    """The delay chosen (a retry tier, at least the platform's ``Retry-After``)."""
    error_class: str = Field(min_length=1, max_length=64)
    """The classified platform error, e.g. ``retry_later`` or ``refresh_token``."""
    reason: ShortText
    """What went wrong, in words."""
    http_status: int | None = Field(default=None, ge=100, le=599)
    """The platform's HTTP status, if a response was received."""


class PublishFailed(_PublishOutcome):
    """The distribution failed for good; it will not be retried automatically."""

    TYPE = "com.herald.publish.failed"
    VERSION = 1

    reason: FailureReason
    """The failure category."""
    error_class: str | None = Field(default=None, max_length=64)
    """The classified platform error, if a platform call failed (absent for ``cancelled``)."""
    message: ShortText
    """What went wrong, in words (never contains a token)."""
    http_status: int | None = Field(default=None, ge=100, le=599)
    """The platform's HTTP status, if a response was received."""
    response_excerpt: str = Field(default="", max_length=500)
    """The start of the platform's response body, for diagnosis (never contains a token)."""
    existing_post_id: str | None = None
    """For ``duplicate``: the platform's id of the earlier post, when the platform says which one."""


class PublishUnconfirmed(_PublishOutcome):
    """A create request was sent but its outcome is unknown (timeout, connection reset, 5xx after sending).

    Herald does not retry it automatically (it could post twice): a human must check the platform and decide.
    """

    TYPE = "com.herald.publish.unconfirmed"
    VERSION = 1

    reason: ShortText
    """What happened, e.g. ``read timeout after 30 s``."""
    error_class: str | None = Field(default=None, max_length=64)
    """The classified platform error, if any."""
    http_status: int | None = Field(default=None, ge=100, le=599)
    """The platform's HTTP status, if a response was received."""
