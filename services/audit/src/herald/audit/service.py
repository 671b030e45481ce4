"""The audit service's read use cases (team-scoped queries, timeline, export) and partition maintenance.

Writing is in :mod:`herald.audit.ingest`. Every query is scoped to the caller's team: rows of other teams, and
``message_parked`` rows whose team is unknown, are never returned.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from herald.audit.metrics import AuditMetrics
from herald.audit.models import StoredRecord
from herald.audit.partitions import Month, expired, wanted
from herald.audit.repository import AuditRepository, EventFilter, Position
from herald.kit.clock import Clock, utc_now
from herald.kit.validation import check_instant, text_problem

log = logging.getLogger(__name__)

TIMELINE_LIMIT = 1000
"""More rows than any distribution produces (a handful of attempts and outcomes)."""


class InvalidCursor(ValueError):
    """A pagination cursor that this service did not issue (or issued for the other sort order)."""


class DistributionNotFound(LookupError):
    """No audit row of the caller's team is about this distribution."""


def encode_cursor(position: Position, *, descending: bool) -> str:
    """An opaque cursor for the page after ``position``."""
    payload = {"at": position.occurred_at.isoformat(), "id": position.event_id, "desc": descending}
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[Position, bool]:
    """The position and sort order in ``cursor``; raises :class:`InvalidCursor`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
        occurred_at = dt.datetime.fromisoformat(payload["at"])
        event_id, descending = payload["id"], payload["desc"]
    except (binascii.Error, ValueError, UnicodeDecodeError, KeyError, TypeError) as error:
        raise InvalidCursor("not a cursor returned by this API") from error
    if not isinstance(event_id, str) or not isinstance(descending, bool) or text_problem(event_id) is not None:
        raise InvalidCursor("not a cursor returned by this API")
    try:
        return Position(check_instant(occurred_at), event_id), descending
    except ValueError:
        raise InvalidCursor("not a cursor returned by this API") from None


@dataclass(frozen=True)
class Page:
    items: list[StoredRecord]
    next_cursor: str | None


class AuditQueries:
    """Team-scoped reads of the audit log."""

    def __init__(self, repository: AuditRepository, *, export_page_size: int) -> None:
        self._repository = repository
        self._export_page_size = export_page_size

    async def events(
        self, team_id: uuid.UUID, filters: EventFilter, *, cursor: str | None, limit: int, descending: bool
    ) -> Page:
        """One page of the team's events; ``next_cursor`` is ``None`` on the last page."""
        after = None
        if cursor is not None:
            after, cursor_descending = decode_cursor(cursor)
            if cursor_descending != descending:
                raise InvalidCursor("the cursor was issued for the other sort order")
        rows = await self._repository.page(team_id, filters, after=after, limit=limit + 1, descending=descending)
        if len(rows) <= limit:
            return Page(rows, None)
        last = rows[limit - 1]
        return Page(rows[:limit], encode_cursor(Position(last.occurred_at, last.event_id), descending=descending))

    async def timeline(self, team_id: uuid.UUID, distribution_id: uuid.UUID) -> list[StoredRecord]:
        """Every attempt, retry and outcome of one distribution, oldest first."""
        rows = await self._repository.timeline(team_id, distribution_id, limit=TIMELINE_LIMIT)
        if not rows:
            raise DistributionNotFound(str(distribution_id))
        return rows

    async def export(self, team_id: uuid.UUID, filters: EventFilter) -> AsyncIterator[StoredRecord]:
        """Every matching row, oldest first, read page by page (no transaction stays open between pages)."""
        after: Position | None = None
        while True:
            rows = await self._repository.page(
                team_id, filters, after=after, limit=self._export_page_size, descending=False
            )
            for row in rows:
                yield row
            if len(rows) < self._export_page_size:
                return
            after = Position(rows[-1].occurred_at, rows[-1].event_id)


@dataclass(frozen=True)
class MaintenanceReport:
    created: list[Month] = field(default_factory=list)
    dropped: list[Month] = field(default_factory=list)


class PartitionMaintenance:
    """Creates monthly partitions ahead of time and drops the ones retention has expired."""

    def __init__(
        self,
        repository: AuditRepository,
        metrics: AuditMetrics,
        *,
        retention_months: int,
        ahead_months: int,
        interval_seconds: float,
        clock: Clock = utc_now,
    ) -> None:
        self._repository = repository
        self._metrics = metrics
        self._retention_months = retention_months
        self._ahead_months = ahead_months
        self._interval = interval_seconds
        self._clock = clock

    async def run_once(self) -> MaintenanceReport:
        """One maintenance pass (also run at start-up, before consuming)."""
        now = self._clock()
        created = await self._repository.ensure_partitions(wanted(now, self._ahead_months))
        self._metrics.partitions_created.inc(len(created))
        dropped = expired(await self._repository.partitions(), now, self._retention_months)
        for month in dropped:
            await self._repository.drop_partition(month)
            self._metrics.partitions_dropped.inc()
            log.info("dropped expired audit partition", extra={"partition": month.table_name})
        return MaintenanceReport(created, dropped)

    async def run(self, stop: asyncio.Event) -> None:
        """Repeat :meth:`run_once` every interval until ``stop``; a failed pass is logged and retried next time."""
        while not stop.is_set():
            try:
                async with asyncio.timeout(self._interval):
                    await stop.wait()
                return
            except TimeoutError:
                pass
            try:
                await self.run_once()
            except Exception:
                log.exception("audit partition maintenance failed; retrying at the next interval")
