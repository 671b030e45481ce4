"""A batch of posts in flight, and the invariant every fault scenario checks when it has settled.

The invariant: every distribution reaches the terminal state it should (published unless the scenario says
otherwise), no post is lost (each published distribution has its post on the sandbox, under the right account,
with the id Herald recorded), no post exists twice on a sandbox (posts are counted by their unique text), and the
audit log has every step of every distribution (its timeline holds ``distribution_scheduled``,
``publish_requested`` and every publish outcome the scheduler received, each exactly once).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from herald.contracts.platform import Platform
from tests.chaos.client import TERMINAL, Sandboxes, Team
from tests.support.eventually import eventually

T = TypeVar("T")
OUTCOME_ACTIONS = {
    "succeeded": "content_published",
    "retry_scheduled": "publish_retry_scheduled",
    "failed": "content_publish_failed",
    "unconfirmed": "content_publish_unconfirmed",
}
FINAL_ACTIONS = {
    "published": "content_published",
    "failed": "content_publish_failed",
    "unconfirmed": "content_publish_unconfirmed",
}


@dataclass(frozen=True)
class Target:
    """A connected account: Herald's id for it, and the account name the sandbox files its posts under."""

    platform: Platform
    account_id: str
    sandbox_account: str


@dataclass
class Planned:
    index: int
    target: Target
    text: str
    due: dt.datetime
    distribution_id: str = ""


@dataclass
class Figures:
    """What a scenario reports (printed as one line, and in the session summary)."""

    scenario: str
    posts: int = 0
    published: int = 0
    failed: int = 0
    other: int = 0
    duplicates: int = 0
    lost: int = 0
    settle_seconds: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        extra = "".join(f" {k}={v}" for k, v in self.notes.items())
        other = f" other={self.other}" if self.other else ""
        return (
            f"CHAOS {self.scenario}: posts={self.posts} published={self.published} failed={self.failed}{other}"
            f" duplicates={self.duplicates} lost={self.lost} settle={self.settle_seconds:.1f}s{extra}"
        )


async def bounded(calls: Iterable[Callable[[], Awaitable[T]]], concurrency: int = 8) -> list[T]:
    """Run the calls with at most ``concurrency`` at a time, results in order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(call: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await call()

    return list(await asyncio.gather(*(one(c) for c in calls)))


class Batch:
    """Distributions scheduled across several accounts, due over a short window."""

    def __init__(self, team: Team, sandboxes: Sandboxes, scenario: str, tag: str, planned: list[Planned]) -> None:
        self.team = team
        self.sandboxes = sandboxes
        self.scenario = scenario
        self.planned = planned
        self.by_id = {p.distribution_id: p for p in planned}
        self.by_text = {p.text: p for p in planned}
        self.tag = tag
        self.first_due = min(p.due for p in planned)
        self.last_due = max(p.due for p in planned)
        self.fault_at: float | None = None
        self.started = time.monotonic()

    @classmethod
    async def schedule(
        cls,
        team: Team,
        sandboxes: Sandboxes,
        scenario: str,
        targets: list[tuple[Target, int]],
        *,
        lead_seconds: float = 2.0,
        spread_seconds: float = 6.0,
        max_attempts: int = 8,
    ) -> Batch:
        """Create one approved content per post (unique text, carrying the batch's tag), then schedule them with
        the accounts interleaved, due evenly over ``spread_seconds`` starting about ``lead_seconds`` after the last
        one is scheduled."""
        began = time.monotonic()
        tag = uuid.uuid4().hex[:10]
        left = [n for _, n in targets]
        slots: list[Target] = []
        while any(left):  # round-robin, so every account has posts due throughout the window
            for i, (target, _) in enumerate(targets):
                if left[i]:
                    slots.append(target)
                    left[i] -= 1
        texts = [f"Herald chaos {scenario} {tag} post {i} {uuid.uuid4().hex[:8]}" for i in range(len(slots))]
        content_ids = await bounded([partial(team.approved_content, text) for text in texts])
        # Scheduling takes about half as long as creating and approving the contents (one call instead of two):
        # the first post falls due ``lead_seconds`` after the last one is scheduled, so the window is not squeezed.
        scheduling = 0.6 * (time.monotonic() - began)
        start = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=lead_seconds + scheduling)
        step = spread_seconds / max(len(slots), 1)
        planned = [
            Planned(i, target, texts[i], start + dt.timedelta(seconds=i * step)) for i, target in enumerate(slots)
        ]

        async def schedule_one(p: Planned, content_id: str) -> None:
            created = await team.schedule(
                content_id, p.target.platform, p.target.account_id, p.due, max_attempts=max_attempts
            )
            p.distribution_id = str(created["distribution_id"])

        await bounded([partial(schedule_one, p, c) for p, c in zip(planned, content_ids, strict=True)])
        print(f"{scenario}: {len(planned)} distributions scheduled in {time.monotonic() - began:.1f}s")
        return cls(team, sandboxes, scenario, tag, planned)

    def mark_fault(self) -> None:
        """The moment the scenario injects its fault (settle time counts from here)."""
        self.fault_at = time.monotonic()

    # -- observation ----------------------------------------------------------------------------------------------

    async def sandbox_posts(self) -> list[dict[str, Any]]:
        """Every post on the three sandboxes that carries this batch's tag."""
        posts: list[dict[str, Any]] = []
        for platform in Platform:
            for post in await self.sandboxes.posts(platform):
                if self.tag in str(post.get("text", "")):
                    posts.append({**post, "platform": platform})
        return posts

    async def wait_posted(self, count: int, timeout: float = 60) -> None:
        """Until at least ``count`` of the batch's posts are on the sandboxes (the fault then lands mid-batch)."""

        async def posted() -> bool:
            return len(await self.sandbox_posts()) >= count

        await eventually(posted, within=timeout, interval=0.1, what=f"{self.scenario}: {count} posts")

    async def statuses(self) -> dict[str, dict[str, Any]]:
        listed = await self.team.distributions(self.first_due - dt.timedelta(seconds=1))
        return {d["distribution_id"]: d for d in listed if d["distribution_id"] in self.by_id}

    async def settle(self, timeout: float = 120) -> tuple[dict[str, dict[str, Any]], float, list[str]]:
        """Until every distribution is terminal (or ``timeout``). Returns every distribution's details (with its
        attempts), the settle time, and the ids still not terminal."""
        waiting: list[str] = list(self.by_id)

        async def all_terminal() -> bool:
            nonlocal waiting
            current = await self.statuses()
            waiting = [i for i in self.by_id if current.get(i, {}).get("status") not in TERMINAL]
            return not waiting

        with contextlib.suppress(AssertionError):  # what is still waiting is reported by the caller
            await eventually(all_terminal, within=timeout, interval=0.5)
        settled = time.monotonic() - (self.fault_at or self.started)
        details = await bounded([partial(self.team.distribution, i) for i in self.by_id], concurrency=16)
        return {d["distribution_id"]: d for d in details}, settled, waiting

    async def timelines(self, details: dict[str, dict[str, Any]], timeout: float = 60) -> dict[str, list[str]]:
        """Every distribution's audit timeline, waiting for the audit service to catch up; returns what is still
        missing from each (empty lists when the log is complete)."""
        missing: dict[str, list[str]] = {i: ["not read yet"] for i in details}

        async def complete() -> bool:
            pending = [i for i, m in missing.items() if m]
            rows = await bounded([partial(self.team.timeline, i) for i in pending], concurrency=16)
            for distribution_id, items in zip(pending, rows, strict=True):
                if items is None:
                    missing[distribution_id] = ["the audit service did not answer"]
                else:
                    missing[distribution_id] = _audit_gaps(details[distribution_id], items)
            return not any(missing.values())

        with contextlib.suppress(AssertionError):  # what is still missing is reported by the caller
            await eventually(complete, within=timeout, interval=0.5)
        return {i: m for i, m in missing.items() if m}

    # -- the invariant --------------------------------------------------------------------------------------------

    async def verify(
        self,
        record: Callable[[Figures], None],
        *,
        expected: Callable[[Planned], frozenset[str]] = lambda _: frozenset({"published"}),
        settle_timeout: float = 120,
        notes: dict[str, Any] | None = None,
    ) -> tuple[Figures, dict[str, dict[str, Any]]]:
        """Settle, check the invariant, record the figures (also when the check fails), then assert."""
        figures = Figures(self.scenario, posts=len(self.planned), notes=dict(notes or {}))
        problems: list[str] = []
        try:
            details = await self._check(figures, problems, expected, settle_timeout)
        finally:
            record(figures)
            print(figures.line())
        assert not problems, f"{self.scenario}: {len(problems)} problems:\n" + "\n".join(problems[:40])
        return figures, details

    async def _check(
        self,
        figures: Figures,
        problems: list[str],
        expected: Callable[[Planned], frozenset[str]],
        settle_timeout: float,
    ) -> dict[str, dict[str, Any]]:
        details, figures.settle_seconds, stuck = await self.settle(settle_timeout)
        for distribution_id in stuck[:10]:
            found = details[distribution_id]
            problems.append(
                f"stuck: {distribution_id} ({found['platform']}) still {found['status']} after {settle_timeout:.0f}s,"
                f" attempts={[a['outcome'] for a in found['attempts']]}"
            )
        if stuck:
            figures.notes["stuck"] = len(stuck)
        posts = await self.sandbox_posts()
        by_text = Counter(p["text"] for p in posts)
        post_of = {p["text"]: p for p in posts}
        figures.duplicates = sum(n - 1 for n in by_text.values() if n > 1)
        for text, n in by_text.items():
            if n > 1:
                ids = [p["id"] for p in posts if p["text"] == text]
                problems.append(f"duplicate: {n} posts {ids} with text {text!r}")
            if text not in self.by_text:
                problems.append(f"unexpected post on a sandbox: {text!r}")
        for planned in self.planned:
            found = details[planned.distribution_id]
            status = found["status"]
            figures.published += status == "published"
            figures.failed += status == "failed"
            figures.other += status not in ("published", "failed")
            allowed = expected(planned)
            post = post_of.get(planned.text)
            if allowed == {"published"} and post is None:
                figures.lost += 1
            if status not in allowed:
                problems.append(
                    f"{planned.distribution_id} ({planned.target.platform}) is {status}, expected one of"
                    f" {sorted(allowed)}: {found.get('failure_reason')} {found.get('failure_message')}"
                    f" attempts={[a['outcome'] for a in found['attempts']]}"
                )
            if status == "published":
                if post is None:
                    problems.append(f"lost: {planned.distribution_id} is published but no post has its text")
                    continue
                if str(found["external_post_id"]) != str(post["id"]):
                    problems.append(
                        f"{planned.distribution_id}: Herald recorded post {found['external_post_id']}, the sandbox"
                        f" has {post['id']}"
                    )
                if post["account"] != planned.target.sandbox_account:
                    problems.append(
                        f"{planned.distribution_id}: posted as {post['account']}, not {planned.target.sandbox_account}"
                    )
            elif post is not None and status in TERMINAL and status != "unconfirmed":
                problems.append(f"{planned.distribution_id} is {status} but its post exists: {post['id']}")
        gaps = await self.timelines({i: d for i, d in details.items() if i not in stuck})
        for distribution_id, missing in list(gaps.items())[:10]:
            problems.append(f"audit timeline of {distribution_id}: {missing}")
        if gaps:
            figures.notes["audit_gaps"] = len(gaps)
        return details


def _audit_gaps(detail: dict[str, Any], items: list[dict[str, Any]]) -> list[str]:
    """What the audit timeline of one distribution is missing (or has twice)."""
    actions = [item["action"] for item in items]
    event_ids = Counter(item["event_id"] for item in items)
    gaps = [f"{a}" for a in ("distribution_scheduled", "publish_requested") if a not in actions]
    for attempt in detail["attempts"]:
        if attempt["event_id"] not in event_ids:
            gaps.append(f"{OUTCOME_ACTIONS[attempt['outcome']]}({attempt['event_id'][:8]})")
    final = FINAL_ACTIONS.get(detail["status"])
    if final is not None and final not in actions:
        gaps.append(final)
    for event_id, n in event_ids.items():
        if n > 1:
            copies = [f"{i['action']}@{i['occurred_at']}" for i in items if i["event_id"] == event_id]
            gaps.append(f"event {event_id} recorded {n} times: {copies}")
    return gaps
