"""Malformed and unknown-version messages injected into every queue while a batch is in flight.

Garbage goes to ``herald.events`` with the routing keys each queue binds, and straight to each queue through the
default exchange. Every copy must be parked in ``<queue>.dead`` with its reason, reported (a ``message_parked``
row in the audit log), and the consumers must keep going: the batch still completes with the invariant intact.
"""

from __future__ import annotations

import contextlib
import uuid
from collections import Counter
from dataclasses import replace

import pytest

from herald.contracts.accounts import AccountConnected
from herald.contracts.base import Event
from herald.contracts.distribution import ContentApproved, DistributionCancelled
from herald.contracts.envelope import to_amqp
from herald.contracts.examples import example_for
from herald.contracts.platform import Platform
from herald.contracts.publishing import PublishFailed, PublishRequested, PublishSucceeded
from herald.contracts.routing import AUDIT_BINDING, EVENTS_EXCHANGE
from herald.publishing.topology import PublisherTopology
from herald.scheduler.handlers import BINDINGS as SCHEDULER_BINDINGS
from tests.chaos.batch import Batch
from tests.chaos.conftest import Deployment
from tests.chaos.infra import Raw, parked, parked_audit_rows, publish_raw, queue_depth
from tests.chaos.stack import CHAOS_TIERS_MS
from tests.support.eventually import eventually

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(300)]

QUEUE_BINDINGS: dict[str, tuple[str, ...]] = {
    **{f"publisher.{p.value}": PublisherTopology(p, CHAOS_TIERS_MS).bindings for p in Platform},
    "scheduler": SCHEDULER_BINDINGS,
    "audit": (AUDIT_BINDING,),
}
UNKNOWN_TYPE_KINDS = frozenset({"unknown-version", "unknown-version-key"})


def topic_matches(binding: str, key: str) -> bool:
    """AMQP topic matching: ``*`` is one word, ``#`` zero or more."""

    def match(pattern: list[str], words: list[str]) -> bool:
        if not pattern:
            return not words
        if pattern[0] == "#":
            return any(match(pattern[1:], words[i:]) for i in range(len(words) + 1))
        if not words:
            return False
        return (pattern[0] in ("*", words[0])) and match(pattern[1:], words[1:])

    return match(binding.split("."), key.split("."))


def test_topic_matching() -> None:
    assert topic_matches("#", "publish.requested.v1.x")
    assert topic_matches("publish.succeeded.v1.*", "publish.succeeded.v1.meta")
    assert not topic_matches("publish.requested.v1.x", "publish.requested.v9.x")
    assert not topic_matches("publish.requested.v1.*", "publish.requested.v1")


def _for_platform(event_cls: type[Event], platform: Platform | None = None) -> Event:
    event = example_for(event_cls)
    return event.model_copy(update={"platform": platform}) if platform is not None else event


def garbage(run: str) -> list[Raw]:
    """Unreadable variants of an event each queue consumes: by routing key on ``herald.events``, and direct."""
    by_key = [
        _for_platform(PublishRequested, Platform.X),
        _for_platform(PublishRequested, Platform.LINKEDIN),
        _for_platform(PublishRequested, Platform.META),
        _for_platform(DistributionCancelled, Platform.X),
        _for_platform(PublishSucceeded, Platform.X),
        _for_platform(PublishFailed, Platform.META),
        _for_platform(AccountConnected),
        _for_platform(ContentApproved),
    ]
    direct = {
        "publisher.x": _for_platform(PublishRequested, Platform.X),
        "publisher.linkedin": _for_platform(PublishRequested, Platform.LINKEDIN),
        "publisher.meta": _for_platform(PublishRequested, Platform.META),
        "scheduler": _for_platform(PublishSucceeded, Platform.LINKEDIN),
        "audit": _for_platform(AccountConnected),
    }
    targets = [(EVENTS_EXCHANGE, None, e) for e in by_key] + [("", q, e) for q, e in direct.items()]
    messages: list[Raw] = []
    for n, (exchange, queue, event) in enumerate(targets):
        env = to_amqp(event, source="/herald/chaos-test")
        key = queue or env.routing_key
        v9 = env.type.removesuffix(".v1") + ".v9"
        variants: dict[str, tuple[bytes, dict[str, object], str | None, str]] = {
            "not-json": (b"\xff\xfe not json {", dict(env.headers), env.content_type, key),
            "no-cloudevents": (env.body, {}, env.content_type, key),
            "unknown-version": (env.body, {**env.headers, "cloudEvents_type": v9}, env.content_type, key),
            "invalid-body": (b'{"team_id": "not-a-uuid", "attempt": -1}', dict(env.headers), env.content_type, key),
            "wrong-content-type": (env.body, dict(env.headers), "text/plain", key),
        }
        if exchange:  # a v9 routing key: only a queue bound to every version (audit) receives it
            variants["unknown-version-key"] = (
                env.body,
                {**env.headers, "cloudEvents_type": v9},
                env.content_type,
                key.replace(".v1", ".v9"),
            )
        for kind, (body, headers, content_type, routing_key) in variants.items():
            message_id = f"chaos-garbage-{run}-{n}-{kind}"
            ce = {"cloudEvents_id": message_id} if "cloudEvents_id" in headers else {}
            messages.append(Raw(message_id, body, {**headers, **ce}, content_type, exchange, routing_key, kind))
    return messages


def destinations(raw: Raw) -> list[str]:
    if not raw.exchange:
        return [raw.routing_key]
    return [q for q, keys in QUEUE_BINDINGS.items() if any(topic_matches(b, raw.routing_key) for b in keys)]


async def test_malformed_and_unknown_version_messages_are_parked_and_reported(herald: Deployment) -> None:
    run = uuid.uuid4().hex[:6]
    messages = garbage(run)
    expected = Counter((m.message_id, q) for m in messages for q in destinations(m))
    assert {q for _, q in expected} == set(QUEUE_BINDINGS), "some queue gets no garbage: the scenario is incomplete"

    batch = await Batch.schedule(herald.team, herald.sandboxes, "poison-messages", herald.default_batch())
    await batch.wait_posted(len(batch.planned) // 4)
    batch.mark_fault()
    await publish_raw(herald.amqp_url, messages)
    # ...and once more, half-way through what is left
    await batch.wait_posted(len(batch.planned) // 2)
    again = [replace(m, message_id=m.message_id + "-again") for m in messages]
    await publish_raw(herald.amqp_url, again)
    expected.update((m.message_id, q) for m in again for q in destinations(m))

    figures, _ = await batch.verify(
        herald.record, notes={"garbage_sent": len(messages) * 2, "parkings_expected": expected.total()}
    )

    kinds = {m.message_id: m.kind for m in [*messages, *again]}
    problems: list[str] = []
    found: Counter[tuple[str, str]] = Counter()
    for queue in QUEUE_BINDINGS:
        for message in await parked(herald.amqp_url, f"{queue}.dead"):
            if message.message_id not in kinds:
                continue
            found[(message.message_id, queue)] += 1
            reason = str(message.headers.get("herald-parked-reason", ""))
            category = message.headers.get("herald-parked-category")
            if not reason or message.headers.get("herald-parked-from") != queue:
                problems.append(f"{queue}.dead: {message.message_id} lacks its reason or origin: {message.headers}")
            want = "unknown_type" if kinds[message.message_id] in UNKNOWN_TYPE_KINDS else "malformed"
            if category != want:
                problems.append(f"{queue}.dead: {message.message_id} parked as {category}, expected {want}")
    missing = expected - found
    extra = found - expected
    problems += [f"not parked in {q}.dead: {m}" for m, q in missing]
    problems += [f"parked {n}x in {q}.dead: {m}" for (m, q), n in extra.items()]

    reported: Counter[tuple[str, str]] = Counter()

    async def all_reported() -> bool:
        nonlocal reported
        rows = await parked_audit_rows(herald.database_url)
        reported = Counter((str(r["entity_id"]), str(r["queue"])) for r in rows if r["entity_id"] in kinds)
        return not expected - reported

    with contextlib.suppress(AssertionError):  # what is missing is listed below
        await eventually(all_reported, within=30, interval=0.5)
    problems += [f"no message_parked audit row for {m} parked from {q}" for m, q in expected - reported]
    problems += [f"{n} message_parked audit rows for {m} from {q}" for (m, q), n in (reported - expected).items()]

    # Nothing may stay behind in a work queue (an unreadable message held unacknowledged blocks a prefetch slot
    # until the consumer restarts, then comes back). The management API's counts lag: wait for them to settle.
    depths: dict[str, tuple[int, int]] = {}

    async def all_empty() -> bool:
        nonlocal depths
        depths = {q: await queue_depth(herald.amqp_url, q) for q in QUEUE_BINDINGS}
        return not any(sum(d) for d in depths.values())

    with contextlib.suppress(AssertionError):  # what is left is listed below
        await eventually(all_empty, within=20, interval=1)
    problems += [f"{q}: {r} ready and {u} unacknowledged messages left behind" for q, (r, u) in depths.items() if r + u]

    figures.notes |= {"parked": found.total(), "reported": reported.total()}
    unparked = Counter(kinds[m] for m, _ in missing.elements())
    assert not problems, (
        f"{len(problems)} problems; copies never parked, by kind of garbage: {dict(unparked)}\n"
        + "\n".join(sorted(problems)[:60])
    )
