"""The contents and accounts recent scheduling requests referred to, kept with their row versions.

A campaign schedules the same few content items on the same accounts over and over. Reading them again for every
request was half of a single create's statements. A request whose contents and accounts are all kept is checked
against the kept rows, and its write (:func:`herald.scheduler.repository.insert_distributions_set` with
``unchanged``) proves them current: it locks those rows and writes nothing if any version differs. So a kept row
can be stale but never wrongly accepted. A stale one only costs a fresh read and a second check (the caller's
fallback), and so does a request the kept rows would refuse: a refusal is always made on fresh rows.

Each scheduler replica keeps its own; nothing needs telling when a row changes. The bound is in rows of each kind,
least recently used first out, and a content item whose text is longer than :data:`KEPT_TEXT_MAX` is never kept
(texts may be 100,000 characters long), so what is kept stays a few megabytes at most.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Iterable
from typing import Generic, TypeVar

from herald.scheduler.models import Account, Content
from herald.scheduler.repository import Targets

KEPT_TEXT_MAX = 4096
"""Characters: a longer content item is read for each request, as if it were not kept."""

K = TypeVar("K")
V = TypeVar("V")


class _Recent(Generic[K, V]):
    """At most ``size`` entries; the least recently used goes first."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        if self._size <= 0:
            return
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)


class TargetCache:
    """Kept scheduling targets (see the module docstring); ``size`` rows of each kind, 0 keeps nothing."""

    def __init__(self, size: int) -> None:
        self._contents: _Recent[tuple[uuid.UUID, uuid.UUID], tuple[Content, int]] = _Recent(size)
        self._accounts: _Recent[uuid.UUID, tuple[Account, int]] = _Recent(size)

    def get(
        self, team_id: uuid.UUID, content_ids: Iterable[uuid.UUID], account_ids: Iterable[uuid.UUID]
    ) -> Targets | None:
        """The kept targets of a request, or None unless every content item (of this team) and account is kept."""
        targets = Targets(contents={}, accounts={}, content_versions={}, account_versions={})
        for content_id in content_ids:
            if content_id not in targets.contents:
                if (content := self._contents.get((team_id, content_id))) is None:
                    return None
                targets.contents[content_id], targets.content_versions[content_id] = content
        for account_id in account_ids:
            if account_id not in targets.accounts:
                if (account := self._accounts.get(account_id)) is None:
                    return None
                targets.accounts[account_id], targets.account_versions[account_id] = account
        return targets

    def put(self, team_id: uuid.UUID, targets: Targets) -> None:
        """Keep what a fresh read found (replacing older versions)."""
        for content_id, content in targets.contents.items():
            if len(content.text) <= KEPT_TEXT_MAX:
                self._contents.put((team_id, content_id), (content, targets.content_versions[content_id]))
        for account_id, account in targets.accounts.items():
            self._accounts.put(account_id, (account, targets.account_versions[account_id]))
