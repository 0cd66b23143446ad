"""KVS's published request-rate limits, enforced when ``EmulatorConfig.rate_limits`` is on.

Per HLS session: master playlist, media playlist and init fragment 5 TPS each, media fragments
20 TPS; per stream: GetHLSStreamingSessionURL 25 TPS. A request over its limit gets 400
ClientLimitExceededException, as from KVS. Token buckets with a one-second burst.
"""

from __future__ import annotations

import threading
import time

__all__ = ["RateLimiter", "LIMITS"]

LIMITS = {
    "GetHLSStreamingSessionURL": 25.0,
    "GetHLSMasterPlaylist": 5.0,
    "GetHLSMediaPlaylist": 5.0,
    "GetMP4InitFragment": 5.0,
    "GetMP4MediaFragment": 20.0,
}


class RateLimiter:
    """One token bucket per (api, session-or-stream) key."""

    def __init__(self, limits: dict[str, float] | None = None) -> None:
        self.limits = dict(LIMITS if limits is None else limits)
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, api: str, key: str) -> bool:
        """Take one token for ``api`` on ``key``; False when over the limit."""
        rate = self.limits.get(api)
        if rate is None:
            return True
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get((api, key), (rate, now))
            tokens = min(rate, tokens + (now - last) * rate)
            allowed = tokens >= 1.0
            self._buckets[(api, key)] = (tokens - 1.0 if allowed else tokens, now)
            if len(self._buckets) > 10_000:              # forget idle keys of old sessions
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60}
        return allowed
