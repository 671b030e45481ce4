"""The scheduler's API use cases: content and its distributions, always within the calling team.

Every change and the events reporting it commit in one transaction (events go through the outbox). Rows are
locked (``FOR UPDATE``) before they are changed, so an API call and the due loop never both act on one
distribution: the due loop skips locked rows and finds them again on its next pass.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from herald.contracts.base import Event, api_key_actor
from herald.contracts.media import MediaReference, Surface
from herald.contracts.platform import Platform
from herald.contracts.publishing import OverLengthPolicy
from herald.kit.auth import TeamPrincipal
from herald.kit.clock import Clock, utc_now
from herald.kit.db import SchemaPool
from herald.kit.validation import check_instant
from herald.platforms.base import ContentRules, ContentRuleViolation, Draft
from herald.platforms.media_checks import MediaRuleViolation
from herald.scheduler import events
from herald.scheduler import repository as repo
from herald.scheduler.errors import Conflict, InvalidField, InvalidItems, NotFound, Unavailable
from herald.scheduler.events import EnvelopeFactory
from herald.scheduler.media_client import MediaResolver, MediaUnavailable
from herald.scheduler.models import (
    CANCELLABLE,
    IN_FLIGHT,
    RESCHEDULABLE,
    SENT,
    Account,
    AccountStatus,
    Attempt,
    Content,
    ContentStatus,
    Distribution,
    DistributionStatus,
    MisfirePolicy,
    media_column,
)
from herald.scheduler.repository import DistributionFilter
from herald.scheduler.settings import SchedulerSettings
from herald.scheduler.target_cache import TargetCache
from herald.scheduler.timezones import RequestedTime, ResolvedTime, resolve

RulesLookup = Callable[[Platform], ContentRules]

CANCELLED_BY_USER = "cancelled by user"
APPROVAL_WITHDRAWN = "content approval withdrawn"
CONTENT_ARCHIVED = "content archived"
CONTENT_EDITED = "content edited after approval"


@dataclass(frozen=True)
class MediaChoice:
    """A media item to attach, by the media service's id, with its description for screen readers."""

    media_id: uuid.UUID
    alt_text: str | None = None


@dataclass(frozen=True)
class NewContent:
    title: str
    text: str
    link: str | None = None
    media: tuple[MediaChoice, ...] = ()


@dataclass(frozen=True)
class ContentChanges:
    """A partial update; ``link_set`` tells "remove the link" (``link=None``) from "leave it"; ``media=None``
    leaves the media as they are (``()`` removes them all)."""

    title: str | None = None
    text: str | None = None
    link: str | None = None
    link_set: bool = False
    media: tuple[MediaChoice, ...] | None = None


@dataclass(frozen=True)
class ScheduleCommand:
    content_id: uuid.UUID
    platform: Platform
    account_id: uuid.UUID
    when: RequestedTime
    max_attempts: int = 5
    base_delay_seconds: int = 300
    misfire_policy: MisfirePolicy = MisfirePolicy.PUBLISH_LATE
    misfire_window_seconds: int | None = None
    over_length: OverLengthPolicy = OverLengthPolicy.REJECT


@dataclass(frozen=True)
class Page:
    items: list[Distribution]
    next_cursor: str | None


class Scheduler:
    """Content and distribution commands and queries for one team at a time."""

    def __init__(
        self,
        engine: AsyncEngine,
        pool: SchemaPool,
        envelopes: EnvelopeFactory,
        settings: SchedulerSettings,
        rules: RulesLookup,
        *,
        due_channel: str,
        media: MediaResolver,
        clock: Clock = utc_now,
    ) -> None:
        self._engine = engine
        self._pool = pool
        self._envelopes = envelopes
        self._settings = settings
        self._rules = rules
        self._due_channel = due_channel
        self._media = media
        self._clock = clock
        self._targets = TargetCache(settings.scheduling_cache_size)

    # -- content ----------------------------------------------------------------------------------------------

    async def create_content(self, principal: TeamPrincipal, new: NewContent) -> Content:
        """Create a draft; its media ids are resolved by the media service now and their snapshot stored."""
        media = await self._resolve_media(principal.team_id, new.media)
        async with self._engine.begin() as conn:
            return await repo.insert_content(
                conn,
                {
                    "content_id": uuid.uuid4(),
                    "team_id": principal.team_id,
                    "title": new.title,
                    "text": new.text,
                    "link": new.link,
                    "status": ContentStatus.DRAFT.value,
                    "media": media_column(media),
                },
            )

    async def get_content(self, team_id: uuid.UUID, content_id: uuid.UUID) -> Content:
        async with self._engine.connect() as conn:
            content = await repo.get_content(conn, team_id, content_id)
        if content is None:
            raise NotFound("no such content")
        return content

    async def update_content(self, principal: TeamPrincipal, content_id: uuid.UUID, changes: ContentChanges) -> Content:
        """Edit content that has not been sent to a publisher yet. Editing approved content withdraws its
        approval (only what was approved is ever published), so it must be approved again."""
        new_media = None if changes.media is None else await self._resolve_media(principal.team_id, changes.media)
        async with self._engine.begin() as conn:
            content = await self._locked_content(conn, principal, content_id)
            if content.status is ContentStatus.ARCHIVED:
                raise Conflict("content is archived")
            existing = await repo.distributions_of_content(conn, content_id)
            if any(d.status in SENT for d in existing):
                raise Conflict("content has already been sent for publishing and can no longer be edited")
            title = changes.title or content.title
            text = content.text if changes.text is None else changes.text
            link = changes.link if changes.link_set else content.link
            media = content.media if new_media is None else tuple(new_media)
            if (title, text, link, media) == (content.title, content.text, content.link, content.media):
                return content
            for d in existing:
                if d.status is DistributionStatus.SCHEDULED:
                    self._check_rules(d.platform, text, link, d.over_length, media, d.publish_surface)
            values: dict[str, object] = {"title": title, "text": text, "link": link, "media": media_column(media)}
            withdrawn = content.status is ContentStatus.APPROVED
            if withdrawn:
                values |= {"status": ContentStatus.DRAFT.value, "approved_at": None, "approved_by": None}
            updated = await repo.update_content(conn, content_id, values)
            if withdrawn:
                await self._emit(conn, events.approval_withdrawn(updated, CONTENT_EDITED, *self._who(principal)))
            return updated

    async def approve(self, principal: TeamPrincipal, content_id: uuid.UUID) -> Content:
        """Approve content (idempotent). Its waiting distributions become due at their times."""
        async with self._engine.begin() as conn:
            content = await self._locked_content(conn, principal, content_id)
            if content.status is ContentStatus.ARCHIVED:
                raise Conflict("content is archived")
            if content.status is ContentStatus.APPROVED:
                return content
            actor, now = self._who(principal)
            updated = await repo.update_content(
                conn, content_id, {"status": ContentStatus.APPROVED.value, "approved_at": now, "approved_by": actor}
            )
            await self._emit(conn, events.content_approved(updated, actor, now))
            await repo.notify(conn, self._due_channel)  # held distributions may be due now
            return updated

    async def withdraw_approval(self, principal: TeamPrincipal, content_id: uuid.UUID, reason: str | None) -> Content:
        """Withdraw approval (idempotent). Waiting distributions are held until the content is approved again;
        distributions already handed to a publisher are cancelled, which publishers learn from
        ``DistributionCancelled``."""
        async with self._engine.begin() as conn:
            content = await self._locked_content(conn, principal, content_id)
            if content.status is ContentStatus.ARCHIVED:
                raise Conflict("content is archived")
            if content.status is ContentStatus.DRAFT:
                return content
            updated = await repo.update_content(
                conn, content_id, {"status": ContentStatus.DRAFT.value, "approved_at": None, "approved_by": None}
            )
            actor, now = self._who(principal)
            in_flight = await repo.distributions_of_content(conn, content_id, IN_FLIGHT)
            await self._cancel(conn, in_flight, APPROVAL_WITHDRAWN, actor, now)
            await self._emit(conn, events.approval_withdrawn(updated, reason, actor, now))
            return updated

    async def archive(self, principal: TeamPrincipal, content_id: uuid.UUID) -> Content:
        """Archive content (idempotent), cancelling every distribution of it that has not been published."""
        async with self._engine.begin() as conn:
            content = await self._locked_content(conn, principal, content_id)
            if content.status is ContentStatus.ARCHIVED:
                return content
            actor, now = self._who(principal)
            active = await repo.distributions_of_content(conn, content_id, CANCELLABLE)
            await self._cancel(conn, active, CONTENT_ARCHIVED, actor, now)
            return await repo.update_content(
                conn, content_id, {"status": ContentStatus.ARCHIVED.value, "archived_at": now}
            )

    # -- distributions ----------------------------------------------------------------------------------------

    async def schedule(self, principal: TeamPrincipal, command: ScheduleCommand) -> Distribution:
        """Schedule content on one account: :meth:`schedule_many` with one item (its problem raised as
        :class:`InvalidField`)."""
        try:
            (distribution,) = await self.schedule_many(principal, [command])
        except InvalidItems as invalid:
            raise invalid.problems[0][1] from None
        return distribution

    async def schedule_many(self, principal: TeamPrincipal, commands: Sequence[ScheduleCommand]) -> list[Distribution]:
        """Schedule every command, or none.

        Each is checked like a single schedule: the time (zone, DST), ``over_length``, the content (this team's,
        not archived), the account (this team's, on the platform, not disconnected), the platform's content rules,
        and that the time is not further in the past than the misfire policy allows. If any item fails,
        :class:`InvalidItems` names each failing item and nothing is written. Otherwise one statement inserts
        them all with a ``DistributionScheduled`` each in the outbox, if none of their contents and accounts changed
        since they were checked (else it is all done again with them locked); the distributions are returned in the
        order of ``commands``. Contents and accounts recently read are kept (:class:`TargetCache`): a request on
        kept ones is checked without reading them, and the write proves them current.
        """
        actor, now = self._who(principal)
        problems: list[tuple[int, InvalidField]] = []
        timed: list[tuple[int, ScheduleCommand, ResolvedTime, int]] = []
        for index, command in enumerate(commands):
            try:
                timed.append((index, command, *self._check_request(command)))
            except InvalidField as problem:
                problems.append((index, problem))
        if not timed:
            if problems:
                raise InvalidItems(problems)
            return []
        # Optimistically first: check against the kept targets (or read them), then write only if the contents and
        # accounts are unchanged (one or two statements, each atomic, no transaction round trips). If one changed,
        # or the kept rows would refuse the request, again on fresh rows with them locked throughout.
        kept = self._targets.get(
            principal.team_id, (c.content_id for _, c, _, _ in timed), (c.account_id for _, c, _, _ in timed)
        )
        async with self._pool.acquire() as db:
            try:
                distributions = await self._schedule_checked(
                    db, principal, timed, problems, actor, now, locked=False, kept=kept
                )
            except InvalidItems:
                if kept is None:
                    raise
                distributions = None  # judged on kept rows: judged again on fresh ones below
            if distributions is None:
                async with db.transaction():
                    distributions = await self._schedule_checked(
                        db, principal, timed, problems, actor, now, locked=True
                    )
            if distributions is None:  # with the targets locked throughout, the write is never refused
                raise RuntimeError("scheduling refused its own write with its targets locked")
            horizon = now + dt.timedelta(seconds=self._settings.due_max_sleep_seconds)
            if any(d.scheduled_at <= horizon for d in distributions):
                await repo.notify_set(db, self._due_channel)  # the due loop may be asleep past these due times
        return distributions

    async def _schedule_checked(
        self,
        db: repo.Driver,
        principal: TeamPrincipal,
        timed: Sequence[tuple[int, ScheduleCommand, ResolvedTime, int]],
        earlier: Sequence[tuple[int, InvalidField]],
        actor: str,
        now: dt.datetime,
        *,
        locked: bool,
        kept: repo.Targets | None = None,
    ) -> list[Distribution] | None:
        """Check every item against the database (or the ``kept`` targets) and insert them all with their
        events; None if not ``locked`` and a content item or account changed between the check and the write
        (nothing was written). ``earlier``: the problems already found without the database
        (:class:`InvalidItems` names them with the others)."""
        targets = kept
        if targets is None:
            targets = await repo.scheduling_targets(
                db,
                principal.team_id,
                (c.content_id for _, c, _, _ in timed),
                (c.account_id for _, c, _, _ in timed),
                lock=locked,
            )
            self._targets.put(principal.team_id, targets)
        contents, accounts = targets.contents, targets.accounts
        gone = await self._deleted_media(principal.team_id, contents.values())
        problems = list(earlier)
        rules_checked: dict[tuple[uuid.UUID, Platform, OverLengthPolicy, Surface], InvalidField | None] = {}
        rows: list[dict[str, object]] = []
        for index, command, when, window in timed:
            try:
                content = _schedulable(contents.get(command.content_id))
                _check_media_still_there(content, gone)
                surface = _check_account(principal, command, accounts.get(command.account_id)).publish_surface
                rules = (content.content_id, command.platform, command.over_length, surface)
                if rules not in rules_checked:  # one content item to many accounts: checked once per surface
                    rules_checked[rules] = self._rule_violation(content, command.over_length, surface, command)
                if (violation := rules_checked[rules]) is not None:
                    raise violation
                self._check_not_too_late(when, command.misfire_policy, window, now=now)
            except InvalidField as problem:
                problems.append((index, problem))
                continue
            rows.append(_new_distribution(principal, command, when, window, surface))
        if problems:
            raise InvalidItems(sorted(problems, key=lambda p: p[0]))
        scheduled = [self._envelopes(events.scheduled_row(row, actor, now)) for row in rows]
        return await repo.insert_distributions_set(db, rows, scheduled, unchanged=None if locked else targets)

    def _check_request(self, command: ScheduleCommand) -> tuple[ResolvedTime, int]:
        """What can be checked without the database: the time and ``over_length``; also the misfire window."""
        when = resolve(command.when)
        if command.platform is not Platform.X and command.over_length is not OverLengthPolicy.REJECT:
            raise InvalidField(
                "over_length", f"only X can truncate or thread over-long text; {command.platform} refuses it"
            )
        window = self._settings.default_misfire_window_seconds
        if command.misfire_window_seconds is not None:
            window = command.misfire_window_seconds
        return when, window

    async def reschedule(
        self, principal: TeamPrincipal, distribution_id: uuid.UUID, requested: RequestedTime
    ) -> Distribution:
        """Move a waiting (or missed) distribution to another time."""
        when = resolve(requested)
        async with self._engine.begin() as conn:
            current = await self._reschedulable(conn, principal, distribution_id)
            self._check_not_too_late(when, current.misfire_policy, current.misfire_window_seconds)
            return await self._move(conn, principal, current, when.at, when.timezone, when.local_time)

    async def publish_now(self, principal: TeamPrincipal, distribution_id: uuid.UUID) -> Distribution:
        """Make a waiting (or missed) distribution of approved content due now; the due loop sends it at once."""
        async with self._engine.begin() as conn:
            current = await self._reschedulable(conn, principal, distribution_id, need_approval=True)
            due = await repo.database_now(conn)  # the due loop's clock: due at once even if this host's is ahead
            return await self._move(conn, principal, current, due, current.timezone, None)

    async def cancel(self, principal: TeamPrincipal, distribution_id: uuid.UUID, reason: str | None) -> Distribution:
        """Cancel a distribution that has not been published (idempotent)."""
        async with self._engine.begin() as conn:
            current = await self._locked_distribution(conn, principal, distribution_id)
            if current.status is DistributionStatus.CANCELLED:
                return current
            if current.status not in CANCELLABLE:
                raise Conflict(f"a {current.status} distribution cannot be cancelled")
            actor, now = self._who(principal)
            await self._cancel(conn, [current], reason or CANCELLED_BY_USER, actor, now)
            return await repo.update_distribution(conn, distribution_id, {})

    async def get_distribution(
        self, team_id: uuid.UUID, distribution_id: uuid.UUID
    ) -> tuple[Distribution, list[Attempt]]:
        async with self._engine.connect() as conn:
            # One snapshot for both reads, so the history never shows an outcome the status does not reflect.
            await conn.execution_options(isolation_level="REPEATABLE READ")
            distribution = await repo.get_distribution(conn, team_id, distribution_id)
            if distribution is None:
                raise NotFound("no such distribution")
            return distribution, await repo.attempts_of(conn, distribution_id)

    async def list_distributions(
        self, team_id: uuid.UUID, where: DistributionFilter, *, cursor: str | None, limit: int
    ) -> Page:
        """One page in due-time order; pass ``next_cursor`` back to get the next page."""
        after = decode_cursor(cursor) if cursor else None
        async with self._engine.connect() as conn:
            items = await repo.list_distributions(conn, team_id, where, after=after, limit=limit + 1)
        if len(items) <= limit:
            return Page(items, None)
        last = items[limit - 1]
        return Page(items[:limit], encode_cursor(last.scheduled_at, last.distribution_id))

    # -- media --------------------------------------------------------------------------------------------------

    async def media_holders(self, team_id: uuid.UUID, media_id: uuid.UUID) -> list[repo.Holder]:
        """The team's distributions that still need ``media_id``: not yet published, failed, cancelled or missed
        (the media service refuses to delete an item while any hold it)."""
        async with self._engine.connect() as conn:
            return await repo.media_holders(conn, team_id, media_id, CANCELLABLE)

    # -- helpers ----------------------------------------------------------------------------------------------

    def _who(self, principal: TeamPrincipal) -> tuple[str, dt.datetime]:
        return api_key_actor(principal.key_id), self._clock()

    async def _emit(self, conn: AsyncConnection, *outgoing: Event) -> None:
        await events.emit(conn, self._envelopes, *outgoing)

    async def _locked_content(self, conn: AsyncConnection, principal: TeamPrincipal, content_id: uuid.UUID) -> Content:
        content = await repo.content_for_update(conn, principal.team_id, content_id)
        if content is None:
            raise NotFound("no such content")
        return content

    async def _locked_distribution(
        self, conn: AsyncConnection, principal: TeamPrincipal, distribution_id: uuid.UUID
    ) -> Distribution:
        distribution = await repo.distribution_for_update(conn, principal.team_id, distribution_id)
        if distribution is None:
            raise NotFound("no such distribution")
        return distribution

    async def _reschedulable(
        self,
        conn: AsyncConnection,
        principal: TeamPrincipal,
        distribution_id: uuid.UUID,
        *,
        need_approval: bool = False,
    ) -> Distribution:
        current = await self._locked_distribution(conn, principal, distribution_id)
        if current.status not in RESCHEDULABLE:
            raise Conflict(f"a {current.status} distribution cannot be rescheduled")
        content = await repo.get_content(conn, principal.team_id, current.content_id)
        if content is None or content.status is ContentStatus.ARCHIVED:
            raise Conflict("content is archived")
        if need_approval and content.status is not ContentStatus.APPROVED:
            raise Conflict("content is not approved: approve it first")
        return current

    async def _move(
        self,
        conn: AsyncConnection,
        principal: TeamPrincipal,
        current: Distribution,
        at: dt.datetime,
        timezone: str | None,
        local_time: str | None,
    ) -> Distribution:
        moved = await repo.update_distribution(
            conn,
            current.distribution_id,
            {
                "scheduled_at": at,
                "timezone": timezone,
                "local_time": local_time,
                "status": DistributionStatus.SCHEDULED.value,
            },
        )
        await self._emit(conn, events.rescheduled(moved, current.scheduled_at, *self._who(principal)))
        await self._wake_if_near(conn, at)
        return moved

    async def _cancel(
        self, conn: AsyncConnection, targets: list[Distribution], reason: str, actor: str, now: dt.datetime
    ) -> None:
        await repo.set_status(
            conn, [d.distribution_id for d in targets], DistributionStatus.CANCELLED, cancel_reason=reason
        )
        await self._emit(conn, *(events.cancelled(d, reason, actor, now) for d in targets))

    def _check_rules(
        self,
        platform: Platform,
        text: str,
        link: str | None,
        over_length: OverLengthPolicy,
        media: Sequence[MediaReference],
        surface: Surface,
    ) -> None:
        draft = Draft(text=text, link=link, over_length=over_length, media=tuple(media), surface=surface)
        try:
            self._rules(platform).prepare(draft)
        except MediaRuleViolation as violation:
            raise InvalidField("media", f"{platform} ({surface}): {violation.message}") from None
        except ContentRuleViolation as violation:
            raise InvalidField("text", f"{platform}: {violation.message}") from None

    def _rule_violation(
        self, content: Content, over_length: OverLengthPolicy, surface: Surface, command: ScheduleCommand
    ) -> InvalidField | None:
        try:
            self._check_rules(command.platform, content.text, content.link, over_length, content.media, surface)
        except InvalidField as violation:
            return violation
        return None

    async def _deleted_media(self, team_id: uuid.UUID, contents: Iterable[Content]) -> set[uuid.UUID]:
        """The media ids of ``contents`` the media service no longer has. A draft does not hold its media (only
        unfinished distributions do), so an item may have been deleted since the content was written: asking
        again here refuses to schedule a post whose media are gone (one call for the whole request, none for
        text-only content)."""
        ids = list(dict.fromkeys(item.media_id for content in contents for item in content.media))
        if not ids:
            return set()
        try:
            resolved = await self._media.resolve(team_id, ids)
        except MediaUnavailable as exc:
            raise Unavailable(f"media cannot be checked now: {exc}; try again shortly") from None
        return {media_id for media_id in ids if media_id not in resolved.found}

    async def _resolve_media(self, team_id: uuid.UUID, chosen: Sequence[MediaChoice]) -> list[MediaReference]:
        """The snapshot of ``chosen`` (in order, with their alt texts) from the media service: 422 naming the ids
        it does not know for this team, 503 if it cannot answer."""
        if not chosen:
            return []
        ids = [choice.media_id for choice in chosen]
        try:
            resolved = await self._media.resolve(team_id, ids)
        except MediaUnavailable as exc:
            raise Unavailable(f"media cannot be checked now: {exc}; try again shortly") from None
        unknown = [media_id for media_id in ids if media_id not in resolved.found]
        if unknown:
            listed = ", ".join(str(media_id) for media_id in unknown)
            raise InvalidField("media", f"unknown media id(s) for this team: {listed} (upload them first)")
        return [resolved.found[choice.media_id].model_copy(update={"alt_text": choice.alt_text}) for choice in chosen]

    def _check_not_too_late(
        self, when: ResolvedTime, policy: MisfirePolicy, window: int, *, now: dt.datetime | None = None
    ) -> None:
        threshold = self._settings.misfire_threshold_seconds
        allowed = max(threshold, window) if policy is MisfirePolicy.PUBLISH_LATE else threshold
        late = ((now or self._clock()) - when.at).total_seconds()
        if late > allowed:
            raise InvalidField(
                when.field,
                f"{when.at.isoformat()} is {int(late)} s in the past, beyond the {allowed} s that misfire policy"
                f" {policy} allows",
            )

    async def _wake_if_near(self, conn: AsyncConnection, at: dt.datetime) -> None:
        # The due loop sleeps until the next due time it knows of, at most due_max_sleep_seconds; anything due
        # sooner than that must wake it.
        if at <= self._clock() + dt.timedelta(seconds=self._settings.due_max_sleep_seconds):
            await repo.notify(conn, self._due_channel)


def _schedulable(content: Content | None) -> Content:
    if content is None:
        raise InvalidField("content_id", "no such content")
    if content.status is ContentStatus.ARCHIVED:
        raise InvalidField("content_id", "content is archived")
    return content


def _check_media_still_there(content: Content, gone: set[uuid.UUID]) -> None:
    missing = [str(item.media_id) for item in content.media if item.media_id in gone]
    if missing:
        raise InvalidField(
            "content_id", f"the content's media item(s) {', '.join(missing)} no longer exist: edit its media first"
        )


def _check_account(principal: TeamPrincipal, command: ScheduleCommand, account: Account | None) -> Account:
    if account is None or account.team_id != principal.team_id:
        raise InvalidField("account_id", "no such connected account for this team (connect it first)")
    if account.platform is not command.platform:
        raise InvalidField("account_id", f"the account is a {account.platform} account, not {command.platform}")
    if account.status is AccountStatus.DISCONNECTED:
        raise InvalidField("account_id", "the account is disconnected: reconnect it first")
    return account


def _new_distribution(
    principal: TeamPrincipal, command: ScheduleCommand, when: ResolvedTime, window: int, surface: Surface
) -> dict[str, object]:
    return {
        "distribution_id": uuid.uuid4(),
        "team_id": principal.team_id,
        "content_id": command.content_id,
        "account_id": command.account_id,
        "platform": command.platform.value,
        "status": DistributionStatus.SCHEDULED.value,
        "scheduled_at": when.at,
        "timezone": when.timezone,
        "local_time": when.local_time,
        "max_attempts": command.max_attempts,
        "base_delay_seconds": command.base_delay_seconds,
        "misfire_policy": command.misfire_policy.value,
        "misfire_window_seconds": window,
        "over_length": command.over_length.value,
        "surface": surface.value,
    }


def encode_cursor(scheduled_at: dt.datetime, distribution_id: uuid.UUID) -> str:
    raw = f"{scheduled_at.astimezone(dt.UTC).isoformat()}|{distribution_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, uuid.UUID]:
    invalid = InvalidField("cursor", "invalid cursor: pass next_cursor from the previous page", location="query")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, distribution_id = raw.split("|")
        parsed, parsed_id = dt.datetime.fromisoformat(at), uuid.UUID(distribution_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid from None
    try:
        return check_instant(parsed), parsed_id
    except ValueError:
        raise invalid from None
