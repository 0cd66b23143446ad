"""The tests' one way to put a frame into a ring: ``put(writer, value)`` fills a loaned slot with
``value`` and commits it, capture time ``1000 + value`` unless given (so a test can tell frames
apart by their pixels and by their time)."""

from __future__ import annotations

from kvs_pool.ring import RingWriter

__all__ = ["put"]


def put(writer: RingWriter, value: int, shape: tuple[int, int, int] = (48, 64, 3),
        capture_ts: float | None = None) -> int:
    """Commit one frame of ``shape`` filled with ``value``; returns its sequence number."""
    writer.loan(*shape)[:] = value
    return writer.commit(capture_ts=1000.0 + value if capture_ts is None else capture_ts)
