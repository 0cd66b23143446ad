"""The ``emulator`` section: an embedded loopback KVS for the demo (no AWS account needed).

When ``enabled``, ``kvs-pool run`` starts the emulator on ``host:port`` serving ``streams`` of
synthetic H.264, and cameras reach it with ``endpoint_url: http://<host>:<port>``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from kvs_pool.config.schema import at_least, between, greater_than, matches, setting

__all__ = ["EmulatorStream", "EmulatorSection"]


@dataclass(frozen=True, kw_only=True)
class EmulatorStream:
    """One synthetic stream the emulator serves."""

    name: str = setting(check=matches(r"[a-zA-Z0-9_.-]{1,256}", "a KVS stream name"))
    width: int = setting(1280, check=between(16, 7680))
    height: int = setting(720, check=between(16, 4320))
    fps: float = setting(25.0, check=between(0.1, 120))
    gop: int = setting(50, check=at_least(1), doc="frames per key frame = per HLS fragment")
    seconds: float = setting(20.0, check=greater_than(0), doc="length of the looping clip")
    file: str | None = setting(None, kind="file", doc="serve this H.264 file instead")
    still_s: float = setting(0.0, check=at_least(0),
                             doc="seconds at the end of each loop with no motion (motion starts "
                                 "and stops, so a motion pipeline sees events start and end)")

    def validate(self) -> Iterator[tuple[str, str]]:
        if self.still_s >= self.seconds:
            yield "still_s", f"must be less than seconds ({self.still_s:g} >= {self.seconds:g})"


@dataclass(frozen=True, kw_only=True)
class EmulatorSection:
    """Embedded KVS emulator settings."""

    enabled: bool = False
    host: str = setting("127.0.0.1", check=matches(r"[^\s/:]+", "a host name or IPv4 address"))
    port: int = setting(4567, check=between(0, 65535))
    streams: tuple[EmulatorStream, ...] = setting((), unique="name")
    allow_remote_faults: bool = setting(
        False, doc="serve the fault endpoint (/_emulator/) to non-loopback clients too; it "
        "changes state without authentication")

    def validate(self) -> Iterator[tuple[str, str]]:
        if self.enabled and not self.streams:
            yield "streams", "an enabled emulator needs at least one stream"

    @property
    def endpoint_url(self) -> str:
        """The URL cameras use to reach this emulator."""
        return f"http://{self.host}:{self.port}"
