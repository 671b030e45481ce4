"""In-memory fakes of what the publishing pipeline depends on: one per Protocol of ``herald.publishing.ports``,
plus a scripted platform client and content rules. They hold to the same contracts as the real adapters (the
ledger's claim, reopen and hold rules are those of ``herald.publishing.ledger``), so a decision tested against them
is the decision made in production (``test_ledger_contract.py`` runs the same checks on the fake ledger and on the
real one); the real adapters are tested on the real database, broker and sandboxes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from prometheus_client import CollectorRegistry

from herald.contracts.base import SYSTEM_ACTOR, Event
from herald.contracts.platform import Platform
from herald.contracts.publishing import PublishRequested
from herald.kit.clock import Clock
from herald.platforms.base import (
    Account,
    ContentRules,
    ContentRuleViolation,
    Draft,
    MediaContext,
    MediaSource,
    PlatformClient,
    PlatformError,
    PreparedPost,
    PublishedPost,
    UploadRecord,
)
from herald.publishing.ledger import TERMINAL, Delivery, Failure, Status
from herald.publishing.metrics import PublisherMetrics
from herald.publishing.service import PublishPipeline
from herald.publishing.tokens import AccessToken

START = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
TIERS_MS = (1_000, 2_000, 4_000, 8_000)
GRACE = dt.timedelta(seconds=60)
RULE_BREAKER = "#too-long#"
"""Text containing this breaks :class:`FakeRules`."""


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self, now: dt.datetime = START) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


class FakeLedger:
    """The ledger's rules on a dict: claim (with reopen on a new replay marker), transitions, account holds."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.rows: dict[uuid.UUID, Delivery] = {}
        self.holds: dict[uuid.UUID, dt.datetime] = {}
        self.transitions: list[Status] = []
        self.uploads: dict[tuple[uuid.UUID, uuid.UUID], UploadRecord] = {}

    def put(self, delivery: Delivery) -> None:
        """Arrange: the row as an earlier delivery left it."""
        self.rows[delivery.distribution_id] = delivery

    async def claim(
        self,
        distribution_id: uuid.UUID,
        team_id: uuid.UUID,
        account_id: uuid.UUID,
        attempt: int,
        *,
        replay: str | None = None,
        holds: Sequence[uuid.UUID] = (),
    ) -> tuple[Delivery | None, Delivery]:
        before = self.rows.get(distribution_id)
        generation = before.generation if before else ""
        reopen = before is not None and before.status is Status.FAILED and bool(replay) and replay != generation
        if before is not None and not reopen and (before.status in TERMINAL or before.status is Status.SENDING):
            return before, before
        generation = replay if reopen and replay else generation
        now = self._clock()
        # Like the upsert: the claim sets these columns and keeps the others (``ambiguous`` among them).
        kept = before or Delivery(distribution_id, Status.SENDING, attempt, now)
        self.rows[distribution_id] = replace(
            kept, status=Status.SENDING, attempt=attempt, started_at=now, generation=generation, alive_at=now
        )
        self.transitions.append(Status.SENDING)
        active = [(until, key) for key in holds if (until := self._active_hold(key)) is not None]
        held = max(active) if active else None
        return before, Delivery(
            distribution_id, Status.SENDING, attempt, now, generation=generation, alive_at=now, held=held
        )

    async def get(self, distribution_id: uuid.UUID) -> Delivery | None:
        return self.rows.get(distribution_id)

    async def mark_ambiguous(self, distribution_id: uuid.UUID) -> None:
        if distribution_id in self.rows:
            self.rows[distribution_id] = replace(self.rows[distribution_id], ambiguous=True)

    async def keep_alive(self, distribution_id: uuid.UUID, started_at: dt.datetime) -> bool:
        row = self.rows.get(distribution_id)
        if row is None or row.status is not Status.SENDING or row.started_at != started_at:
            return False
        self.rows[distribution_id] = replace(row, alive_at=self._clock())
        return True

    async def mark_retrying(self, distribution_id: uuid.UUID) -> None:
        self._record(distribution_id, Status.RETRYING)

    async def mark_published(self, distribution_id: uuid.UUID, post: PublishedPost) -> Delivery:
        return self._record(distribution_id, Status.PUBLISHED, post_id=post.post_id, post_url=post.url)

    async def mark_failed(self, distribution_id: uuid.UUID, failure: Failure) -> Delivery:
        return self._record(distribution_id, Status.FAILED, failure=failure)

    async def mark_unconfirmed(self, distribution_id: uuid.UUID, failure: Failure) -> Delivery:
        return self._record(distribution_id, Status.UNCONFIRMED, failure=failure)

    def _active_hold(self, key: uuid.UUID) -> dt.datetime | None:
        until = self.holds.get(key)
        return until if until is not None and until > self._clock() else None

    async def hold(self, account_id: uuid.UUID, until: dt.datetime, reason: str) -> None:
        self.holds[account_id] = max(until, self.holds.get(account_id, until))

    async def recall_upload(self, distribution_id: uuid.UUID, media_id: uuid.UUID) -> UploadRecord | None:
        return self.uploads.get((distribution_id, media_id))

    async def remember_upload(self, distribution_id: uuid.UUID, media_id: uuid.UUID, record: UploadRecord) -> None:
        self.uploads[(distribution_id, media_id)] = replace(record, detail=dict(record.detail))

    def status(self, distribution_id: uuid.UUID) -> Status | None:
        row = self.rows.get(distribution_id)
        return row.status if row else None

    def _record(
        self,
        distribution_id: uuid.UUID,
        status: Status,
        *,
        post_id: str | None = None,
        post_url: str | None = None,
        failure: Failure | None = None,
    ) -> Delivery:
        row = replace(
            self.rows[distribution_id],
            status=status,
            post_id=post_id,
            post_url=post_url,
            failure=failure,
            finished_at=self._clock() if status in TERMINAL else None,
            alive_at=self._clock(),
        )
        self.rows[distribution_id] = row
        self.transitions.append(status)
        return row


@dataclass
class FakeTokens:
    """A token source: each call takes the next scripted failure of its kind, if any (None: answer), else answers."""

    get_failures: list[Exception | None] = field(default_factory=list)
    refresh_failures: list[Exception] = field(default_factory=list)
    refreshes: int = 0
    reauth_reports: list[str] = field(default_factory=list)

    async def get(self, account_id: uuid.UUID) -> AccessToken:
        problem = self.get_failures.pop(0) if self.get_failures else None
        if problem is not None:
            raise problem
        return AccessToken(account_id, "platform-user", "access-1", None)

    async def refresh(self, rejected: AccessToken) -> AccessToken:
        self.refreshes += 1
        if self.refresh_failures:
            raise self.refresh_failures.pop(0)
        return replace(rejected, access_token=f"access-{self.refreshes + 1}")

    async def report_reauth_required(self, rejected: AccessToken, reason: str) -> None:
        self.reauth_reports.append(reason)


@dataclass
class FakeSink:
    """An outcome sink that keeps what was published, in order."""

    published: list[tuple[Event, str]] = field(default_factory=list)

    async def publish(self, event: Event, *, event_id: str | None = None) -> str:
        eid = event_id or str(uuid.uuid4())
        self.published.append((event, eid))
        return eid

    @property
    def kinds(self) -> list[str]:
        return [type(event).__name__ for event, _ in self.published]


class FakeClient(PlatformClient):
    """A platform whose answers are scripted: each create takes the next scripted error (then succeeds), and the
    read-back answers ``read_back`` (a post, None for "certainly not there", or an error to raise)."""

    def __init__(self, creates: Iterable[PlatformError] = (), read_back: PublishedPost | PlatformError | None = None):
        self.platform = Platform.X
        self.creates: list[PlatformError] = list(creates)
        self.read_back = read_back
        self.sent: list[tuple[str, str]] = []  # (access token, text) of each create
        self.read_backs = 0
        self.calls: list[tuple[Account, PreparedPost, MediaContext | None]] = []  # every publish, as received
        self.on_publish: Callable[[PreparedPost, MediaContext | None], Awaitable[None]] | None = None

    async def publish(
        self, account: Account, access_token: str, post: PreparedPost, media: MediaContext | None = None
    ) -> PublishedPost:
        self.calls.append((account, post, media))
        if self.on_publish is not None:  # what a real adapter does with the media first (uploads)
            await self.on_publish(post, media)
        self.sent.append((access_token, post.text))
        if self.creates:
            raise self.creates.pop(0)
        return PublishedPost(f"post-{len(self.sent)}", url=f"https://x.test/post-{len(self.sent)}")

    async def find_published(
        self, account: Account, access_token: str, post: PreparedPost, since: dt.datetime
    ) -> PublishedPost | None:
        self.read_backs += 1
        if isinstance(self.read_back, PlatformError):
            raise self.read_back
        return self.read_back


class FakeRules(ContentRules):
    """Accepts any text except one containing :data:`RULE_BREAKER`."""

    def prepare(self, draft: Draft) -> PreparedPost:
        if RULE_BREAKER in draft.text:
            raise ContentRuleViolation("max_length", "text is 20 characters over the 280 limit", limit=280)
        return PreparedPost((draft.text,), draft.link, draft.media)


@dataclass
class Harness:
    """A pipeline wired to fakes, and the fakes to arrange and inspect."""

    clock: ManualClock
    ledger: FakeLedger
    tokens: FakeTokens
    sink: FakeSink
    client: FakeClient
    registry: CollectorRegistry
    pipeline: PublishPipeline

    @classmethod
    def build(
        cls, client: FakeClient | None = None, tokens: FakeTokens | None = None, media_source: MediaSource | None = None
    ) -> Harness:
        clock = ManualClock()
        ledger = FakeLedger(clock)
        tokens = tokens or FakeTokens()
        sink = FakeSink()
        client = client or FakeClient()
        registry = CollectorRegistry()
        pipeline = PublishPipeline(
            client=client,
            rules=FakeRules(),
            ledger=ledger,
            tokens=tokens,
            outcomes=sink,
            metrics=PublisherMetrics.create(registry, Platform.X, "publisher.x"),
            tiers_ms=TIERS_MS,
            in_flight_grace=GRACE,
            service_name="publisher-x",
            clock=clock,
            media_source=media_source,
        )
        return cls(clock, ledger, tokens, sink, client, registry, pipeline)

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, {"platform": "x", **labels}) or 0.0


def request(**overrides: Any) -> PublishRequested:
    values: dict[str, Any] = {
        "team_id": uuid.uuid4(),
        "correlation_id": "test-correlation",
        "actor": SYSTEM_ACTOR,
        "occurred_at": START,
        "distribution_id": uuid.uuid4(),
        "content_id": uuid.uuid4(),
        "platform": Platform.X,
        "account_id": uuid.uuid4(),
        "title": "Test post",
        "text": "Hello from the fakes",
        "scheduled_at": START,
        "max_attempts": 3,
        "base_delay_seconds": 1,
    }
    return PublishRequested(**(values | overrides))
