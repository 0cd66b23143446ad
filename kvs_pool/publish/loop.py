"""The publisher loop: drain the outbox to every publisher, retrying failures with backoff.

A thread, not a process: the outbox makes a crash harmless (undelivered events wait on disk for
the next start), so a separate process would add supervision and IPC for nothing. The work is
network I/O in botocore, which releases the GIL, and events are rare next to frames, so the
thread costs the inference loop little.

Per pass, publishers run in stage order (S3 first). For each publisher the outbox hands out a
gap-free prefix of every camera's undelivered events. A failed item puts its camera into backoff
for that publisher only (``kvs_pool.backoff``: x2 with jitter), so a camera's later events wait
behind its failed head while other cameras and other publishers carry on. Botocore's own retry
mode (standard/adaptive) retries inside one call first; this backoff is the outer layer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from kvs_pool.backoff import Backoff, BackoffPolicy
from kvs_pool.publish.base import OutboxItem, Outcome, Publisher
from kvs_pool.publish.outbox import Outbox

__all__ = ["LoopParams", "PublisherLoop"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoopParams:
    """Timing of the loop: its retry backoff and how long it sleeps when idle."""

    backoff: BackoffPolicy = BackoffPolicy(initial_s=0.5, factor=2.0, max_s=30.0,
                                           reset_after_s=0.0)
    idle_s: float = 1.0
    linger_s: float = 0.05     # after an idle wake-up, wait this long so a batch can fill up


class PublisherLoop:
    """Delivers the outbox's events; ``start()`` runs it in a daemon thread."""

    def __init__(self, outbox: Outbox, publishers: Sequence[Publisher],
                 params: LoopParams = LoopParams()) -> None:
        self.outbox = outbox
        self.publishers = sorted(publishers, key=lambda p: p.stage)
        self.params = params
        self._backoffs: dict[tuple[str, str], tuple[Backoff, float]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Run ``run_forever`` in a daemon thread."""
        self._thread = threading.Thread(target=self.run_forever, name="publisher-loop",
                                        daemon=True)
        self._thread.start()

    def stop(self, flush_timeout_s: float = 0.0, join_timeout_s: float = 10.0) -> bool:
        """Stop the thread, first trying up to ``flush_timeout_s`` to empty the outbox.

        Returns True when the outbox was empty at the end (what SIGTERM handling logs). A call
        still hanging after ``join_timeout_s`` is left to the daemon thread: whatever it was
        sending stays in the outbox and goes out (perhaps again) after the next start.
        """
        deadline = time.monotonic() + flush_timeout_s
        while self.outbox.depth() and time.monotonic() < deadline:
            self.outbox.wakeup.set()
            time.sleep(0.05)
        self._stop.set()
        self.outbox.wakeup.set()
        if self._thread is not None:
            self._thread.join(join_timeout_s)
            if self._thread.is_alive():
                log.warning("publisher loop of %s still inside a call after %.0f s; leaving it",
                            self.outbox.path, join_timeout_s)
        self._close_publishers()
        left = self.outbox.depth()
        if left:
            log.info("outbox %s: %d events left for the next start", self.outbox.path, left)
        return left == 0

    def _close_publishers(self) -> None:
        """Let publishers holding a connection (MQTT) say goodbye; optional ``close()``."""
        for publisher in self.publishers:
            close = getattr(publisher, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # closing must not stop the others
                    log.exception("%s: close failed", publisher.name)

    def run_forever(self) -> None:
        """Pass after pass until ``stop()``; sleeps when idle or every camera backs off."""
        while not self._stop.is_set():
            try:
                moved = self.run_once()
            except Exception:  # a bug or a broken disk must not kill delivery for good
                log.exception("publisher loop pass failed on outbox %s", self.outbox.path)
                moved = 0
            if not moved:
                self.outbox.wakeup.wait(self._sleep_s())
                self.outbox.wakeup.clear()
                self._stop.wait(self.params.linger_s)

    def run_once(self) -> int:
        """One pass over every publisher; returns how many items were attempted."""
        attempted = 0
        for publisher in self.publishers:
            items = self.outbox.next_batch(publisher.name, publisher.batch_size,
                                           self._blocked(publisher))
            if items:
                attempted += len(items)
                self._deliver(publisher, items)
        return attempted

    def _deliver(self, publisher: Publisher, items: list[OutboxItem]) -> None:
        retries = sum(1 for item in items if item.attempts)
        self.outbox.stats.add("retries", retries, publisher.name)
        outcomes = publisher.publish(items)
        self.outbox.record(publisher.name, outcomes)
        self._update_backoff(publisher.name, items, outcomes)

    def _update_backoff(self, name: str, items: list[OutboxItem],
                        outcomes: Sequence[Outcome]) -> None:
        by_seq = {o.seq: o for o in outcomes}
        failed: dict[str, Outcome] = {}
        succeeded: set[str] = set()
        for item in items:
            outcome = by_seq.get(item.seq)
            if outcome is None:
                continue
            if outcome.ok or outcome.rejected:   # a rejection is final: no backoff
                succeeded.add(item.camera_id)
            else:
                failed.setdefault(item.camera_id, outcome)
        for camera in succeeded - set(failed):
            backoff, _ = self._backoffs.pop((name, camera), (None, 0.0))
            if backoff is not None:
                log.info("%s: camera %s delivering again after %d failed attempts", name,
                         camera, backoff.failures, extra={"camera_id": camera})
        for camera, outcome in failed.items():
            self._back_off(name, camera, outcome)

    def _back_off(self, name: str, camera: str, outcome: Outcome) -> None:
        backoff, _ = self._backoffs.get((name, camera), (None, 0.0))
        backoff = backoff or Backoff(self.params.backoff)
        delay = backoff.next_delay()
        self._backoffs[(name, camera)] = (backoff, time.monotonic() + delay)
        level = logging.WARNING if backoff.failures in (1, 5) or backoff.failures % 20 == 0 \
            else logging.DEBUG
        log.log(level, "%s: camera %s delivery failed (%s%s), attempt %d, next in %.1f s",
                name, camera, outcome.error or "error", ", throttled" if outcome.throttled else "",
                backoff.failures, delay, extra={"camera_id": camera})

    def _blocked(self, publisher: Publisher) -> set[str]:
        """Cameras waiting out a backoff for this publisher or an earlier-stage one."""
        now = time.monotonic()
        stages = {p.name: p.stage for p in self.publishers}
        return {camera for (name, camera), (_, ready) in self._backoffs.items()
                if ready > now and (name == publisher.name or stages[name] < publisher.stage)}

    def _sleep_s(self) -> float:
        now = time.monotonic()
        waits = [ready - now for _, ready in self._backoffs.values() if ready > now]
        return max(0.01, min([self.params.idle_s, *waits]))
