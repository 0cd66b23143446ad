"""The one stall rule: how long a camera may go without a frame before its source reconnects,
and before ``/healthz`` and ``kvs-pool status`` call it unhealthy.

``frame_timeout(stream_fps, target_fps, configured_s)``: the configured value wins; else
``max(15 s, 5 frame intervals)`` of the slower of the stream's rate and the target rate, so a
0.2 fps camera (or one sampled at 0.1 fps) gets 50 s and a 0.05 fps one 100 s. Sources call it
with the rate they measure from the stream; the health check with the rate the ring is written
at (the decoder's own measure of the same thing), so both agree on a slow camera. A leaf module:
config, sources and metrics all import it, it imports nothing of ours.
"""

from __future__ import annotations

__all__ = ["STALL_FLOOR_S", "STALL_FRAMES", "frame_timeout"]

STALL_FLOOR_S = 15.0    # never less than this
STALL_FRAMES = 5.0      # frame intervals allowed without a frame


def frame_timeout(stream_fps: float | None, target_fps: float | None = None,
                  configured_s: float | None = None) -> float:
    """Seconds without a delivered frame before a camera counts as stalled."""
    if configured_s is not None:
        return configured_s
    rates = [r for r in (stream_fps, target_fps) if r and r > 0]
    if not rates:
        return STALL_FLOOR_S
    return max(STALL_FLOOR_S, STALL_FRAMES / min(rates))
