"""Delivery counters of one outbox, thread-safe, shaped for the inference worker's stats JSON.

Totals: ``queued`` (accepted by ``emit``), ``refused`` (outbox full), ``dropped`` (always 0: the
outbox never drops an accepted event; kept so dashboards can alert on it). Per publisher:
``delivered``, ``failures`` (item attempts that failed), ``retries`` (items sent again after a
failure), ``rejected`` (items the destination refused for good, e.g. a webhook's 400; not
retried). ``Outbox.snapshot_stats()`` adds ``depth``, ``depth_bytes`` and
``oldest_undelivered_age_s``.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from kvs_pool.telemetry import OUTBOX_TOTALS, PUBLISHER, keys

__all__ = ["PublishStats"]

_TOTALS = keys(OUTBOX_TOTALS)        # the keys and their families: kvs_pool.telemetry
_PER_PUBLISHER = keys(PUBLISHER)


class PublishStats:
    """Counters keyed by name, optionally per publisher."""

    def __init__(self, publishers: list[str]) -> None:
        self._publishers = list(publishers)
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()

    def add(self, name: str, n: int = 1, publisher: str = "") -> None:
        """Add ``n`` to counter ``name`` (of ``publisher`` when given)."""
        if n:
            with self._lock:
                self._counts[(name, publisher)] += n

    def get(self, name: str, publisher: str = "") -> int:
        """Current value of one counter."""
        with self._lock:
            return self._counts[(name, publisher)]

    def as_dict(self, **extra: Any) -> dict[str, Any]:
        """``{"queued": .., "refused": .., "dropped": 0, "publishers": {name: {...}}, **extra}``."""
        with self._lock:
            doc: dict[str, Any] = {k: self._counts[(k, "")] for k in _TOTALS}
            doc["publishers"] = {p: {k: self._counts[(k, p)] for k in _PER_PUBLISHER}
                                 for p in self._publishers}
        doc.update(extra)
        return doc
