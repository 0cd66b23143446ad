"""The seam between the outbox and the publishers: what a publisher is handed and what it answers.

A publisher gets a batch of ``OutboxItem`` in outbox order and returns an ``Outcome`` per item
it tried. It never raises for a delivery problem: a failed item is an ``Outcome(ok=False)`` that the
outbox keeps for another try (only that item, only for that publisher). ``stage`` orders
publishers for one event: every stage-0 publisher (S3) must have delivered an event before a
stage-1 publisher (Kinesis, DynamoDB) is handed it, so the event they carry has ``snapshot_uri``.

A ``rejected`` outcome is a failure no retry can mend (a webhook answering 400): the outbox stops
offering that item to that publisher, counts it as ``rejected``, and the camera's later items
go on (they do not wait behind it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["OutboxItem", "Outcome", "Publisher", "THROTTLE_CODES", "publish_each"]

# AWS error codes that mean "slow down" rather than "broken"; they make the loop back off.
THROTTLE_CODES = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "Throttling",
    "LimitExceededException", "RequestLimitExceeded", "SlowDown", "TooManyRequestsException",
    "RequestThrottled", "RequestThrottledException",
})


@dataclass(frozen=True)
class OutboxItem:
    """One undelivered event as stored: the event dict (with updates from earlier stages)."""

    seq: int
    event_id: str
    camera_id: str
    event: dict[str, Any]
    snapshot: bytes | None = None
    crop: bytes | None = None
    attempts: int = 0


@dataclass(frozen=True)
class Outcome:
    """What happened to one item. ``updates`` are merged into the stored event on success;
    ``rejected`` (with ``ok=False``): the destination refused it for good, do not retry."""

    seq: int
    ok: bool
    error: str = ""
    throttled: bool = False
    updates: Mapping[str, Any] = field(default_factory=dict)
    rejected: bool = False


class Publisher(Protocol):
    """Delivers batches of events to one destination."""

    name: str          # unique per outbox, e.g. "kinesis:events"; delivery is tracked by it
    stage: int         # 0 runs before 1 for the same event
    batch_size: int    # most items handed in one call

    def publish(self, items: Sequence[OutboxItem]) -> list[Outcome]:
        """Try to deliver ``items``; outcomes in any order. An item given no outcome (not tried,
        e.g. waiting behind its camera's failed head) stays queued and is not counted."""
        ...


def publish_each(items: Sequence[OutboxItem],
                 send: Callable[[OutboxItem], Outcome]) -> list[Outcome]:
    """Send items one by one; after a camera's first failure its later items get no outcome
    (they stay queued behind it, keeping the camera's order). A rejection does not block."""
    outcomes: list[Outcome] = []
    failed_cameras: set[str] = set()
    for item in items:
        if item.camera_id in failed_cameras:
            continue
        outcome = send(item)
        if not outcome.ok and not outcome.rejected:
            failed_cameras.add(item.camera_id)
        outcomes.append(outcome)
    return outcomes
