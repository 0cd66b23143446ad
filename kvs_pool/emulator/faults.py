"""Fault injection state shared by the control plane and the data plane.

Error bursts answer the next ``count`` matching requests with an AWS-shaped error instead of
the real answer. A request matches a burst by plane (``control``: the JSON API calls,
``data``: the ``/hls/v1/`` calls, ``any``), by API name (e.g. ``GetMP4MediaFragment``; empty:
all) and by stream (empty: all). Bursts are consumed in the order they were added.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

__all__ = ["ErrorBurst", "BurstTable", "DEFAULT_CODES", "PLANES"]

PLANES = ("control", "data", "any")

# The code each status gets unless the caller names one (as KVS/AWS would send it).
DEFAULT_CODES = {
    400: "ClientLimitExceededException",
    401: "NotAuthorizedException",
    403: "NotAuthorizedException",
    404: "ResourceNotFoundException",
    500: "InternalFailure",
    503: "ServiceUnavailable",
}


@dataclass
class ErrorBurst:
    """Answer the next ``count`` matching requests with ``status``/``code``."""

    status: int
    count: int
    code: str = ""
    plane: str = "any"
    api: str = ""
    stream: str = ""

    def __post_init__(self) -> None:
        if self.plane not in PLANES:
            raise ValueError(f"plane must be one of {', '.join(PLANES)}, not {self.plane!r}")
        if not 400 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP error status (4xx/5xx), not {self.status}")
        if self.count < 1:
            raise ValueError("count must be at least 1")
        self.code = self.code or DEFAULT_CODES.get(self.status, "InternalFailure")

    def matches(self, plane: str, api: str, stream: str) -> bool:
        return ((self.plane in ("any", plane)) and self.api in ("", api)
                and self.stream in ("", stream))


class BurstTable:
    """The pending error bursts; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bursts: list[ErrorBurst] = []
        self.served = 0

    def add(self, burst: ErrorBurst) -> None:
        with self._lock:
            self._bursts.append(burst)

    def clear(self) -> None:
        with self._lock:
            self._bursts.clear()

    def take(self, plane: str, api: str, stream: str) -> ErrorBurst | None:
        """The burst this request falls into (its count decremented), or None."""
        with self._lock:
            for burst in self._bursts:
                if burst.matches(plane, api, stream):
                    burst.count -= 1
                    if burst.count <= 0:
                        self._bursts.remove(burst)
                    self.served += 1
                    return burst
        return None

    def pending(self) -> list[dict[str, object]]:
        with self._lock:
            return [dict(vars(b)) for b in self._bursts]
