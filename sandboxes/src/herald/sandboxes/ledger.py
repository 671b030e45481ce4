"""What each sandbox account has published: the platform's storage, and the inspection API's source."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class StoredPost:
    id: str
    account: str
    text: str
    created_at: dt.datetime
    data: dict[str, Any] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account": self.account,
            "text": self.text,
            "created_at": self.created_at.isoformat(),
            **self.data,
        }


class PostLedger:
    """An in-memory, thread-safe store of posts with duplicate detection and id generation."""

    def __init__(self, first_id: int = 1) -> None:
        self._posts: dict[str, StoredPost] = {}
        self._by_account: dict[str, list[StoredPost]] = {}
        self._ids = itertools.count(first_id)
        self._lock = threading.Lock()

    def next_number(self) -> int:
        with self._lock:
            return next(self._ids)

    def add(self, post: StoredPost) -> StoredPost:
        with self._lock:
            self._posts[post.id] = post
            self._by_account.setdefault(post.account, []).append(post)
        return post

    def get(self, post_id: str) -> StoredPost | None:
        return self._posts.get(post_id)

    def delete(self, post_id: str) -> bool:
        with self._lock:
            post = self._posts.pop(post_id, None)
            if post is None:
                return False
            self._by_account[post.account].remove(post)
            return True

    def by_account(self, account: str, since: dt.datetime | None = None) -> list[StoredPost]:
        """Newest first, like every platform's timeline."""
        with self._lock:
            posts = list(self._by_account.get(account, []))
        if since is not None:
            posts = [p for p in posts if p.created_at >= since]
        return sorted(posts, key=lambda p: p.created_at, reverse=True)

    def duplicate_of(self, account: str, text: str, window: dt.timedelta) -> StoredPost | None:
        cutoff = dt.datetime.now(dt.UTC) - window
        for post in self.by_account(account, since=cutoff):
            if post.text == text:
                return post
        return None

    def all(self) -> list[StoredPost]:
        with self._lock:
            return list(self._posts.values())

    def clear(self) -> None:
        with self._lock:
            self._posts.clear()
            self._by_account.clear()
