"""What the pipeline tells the message handler to do with a delivery: exactly one of three cases.

The pipeline has already recorded the outcome (ledger and, for a final outcome, the event on the broker) when it
returns a decision; the handler carries the decision out on the message (:mod:`herald.publishing.handlers`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from herald.contracts.operations import ParkCategory
from herald.publishing.outcomes import Outcome
from herald.publishing.retry import RetryPlan


@dataclass(frozen=True)
class Ack:
    """Done: acknowledge the message."""


@dataclass(frozen=True)
class Retry:
    """Deliver the message again through ``plan``'s tier, as attempt ``next_attempt``.

    ``announcement`` (a ``PublishRetryScheduled``) is published before the message moves to its tier; ``None`` when
    nothing happened that anyone needs to hear of (another delivery of the same distribution is in flight).
    """

    plan: RetryPlan
    next_attempt: int
    reason: str
    announcement: Outcome | None = None


@dataclass(frozen=True)
class Park:
    """Move the message to the parking queue, for an operator."""

    reason: str
    category: ParkCategory


Decision: TypeAlias = Ack | Retry | Park
ACK = Ack()
