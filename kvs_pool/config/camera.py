"""Camera sections: where a camera's video comes from and how its decoder behaves.

``defaults`` (``CameraDefaults``) holds every per-camera setting; each camera takes the defaults
for the keys it does not set, nested sections key by key (a camera's ``backoff: {max_s: 30}``
keeps the default ``initial_s``). A source is exactly one of ``kvs:`` (an AWS Kinesis Video
stream, read over HLS) or ``url:`` (rtsp/rtsps, http(s) HLS, file:// or a plain path).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, Literal

from kvs_pool.backoff import BackoffPolicy
from kvs_pool.config.schema import (
    at_least,
    between,
    greater_than,
    matches,
    not_empty,
    one_of_schemes,
    setting,
)
from kvs_pool.stall import frame_timeout

__all__ = [
    "NAME_PATTERN", "REGION_PATTERN", "BackoffConfig", "StallConfig", "KvsSource",
    "SourceConfig", "CameraDefaults", "CameraConfig", "check_url",
]

NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]{0,47}"
"""Pool names and camera ids: they become shared-memory names (``kvspool.<pool>.<camera>``)."""
REGION_PATTERN = r"[a-z]{2}(-[a-z]+)+-\d{1,2}"
_NAME_WHAT = "a valid name (letters, digits, '_' or '-', starting with a letter or digit, ≤ 48)"
URL_SCHEMES = ("rtsp", "rtsps", "http", "https", "file")
MAX_WIDTH, MAX_HEIGHT = 7680, 4320

valid_name = matches(NAME_PATTERN, _NAME_WHAT)
valid_region = matches(REGION_PATTERN, "an AWS region name like us-east-1")
valid_endpoint = one_of_schemes("http", "https")


@dataclass(frozen=True, kw_only=True)
class BackoffConfig:
    """Reconnect/restart backoff: delay = min(initial_s * factor^(n-1), max_s) * jitter."""

    initial_s: float = setting(5.0, check=greater_than(0))
    factor: float = setting(2.0, check=at_least(1))
    max_s: float = setting(60.0, check=greater_than(0))
    jitter: tuple[float, float] = setting((0.8, 1.2), check=between(0.01, 10))
    reset_after_s: float = setting(60.0, check=greater_than(0))

    def validate(self) -> Iterator[tuple[str, str]]:
        if self.initial_s > self.max_s:
            yield "initial_s", f"must not exceed max_s ({self.initial_s:g} > {self.max_s:g})"
        if self.jitter[0] > self.jitter[1]:
            yield "jitter", f"low must not exceed high (got [{self.jitter[0]:g}, {self.jitter[1]:g}])"

    def policy(self) -> BackoffPolicy:
        """The shared ``kvs_pool.backoff.BackoffPolicy`` with these numbers."""
        return BackoffPolicy(initial_s=self.initial_s, factor=self.factor, max_s=self.max_s,
                             jitter_low=self.jitter[0], jitter_high=self.jitter[1],
                             reset_after_s=self.reset_after_s)


@dataclass(frozen=True, kw_only=True)
class StallConfig:
    """When a decoder counts as stalled: no heartbeat (hung) or no frames (source silent)."""

    heartbeat_timeout_s: float = setting(20.0, check=greater_than(0))
    frame_timeout_s: float | None = setting(None, check=greater_than(0),
                                            doc="null: derived from the frame rate")
    def frame_timeout(self, fps: float | None) -> float:
        """Seconds without a frame at ``fps`` before the source reconnects
        (``kvs_pool.stall.frame_timeout``)."""
        return frame_timeout(fps, configured_s=self.frame_timeout_s)


@dataclass(frozen=True, kw_only=True)
class KvsSource:
    """An AWS Kinesis Video stream; region/profile/endpoint_url default to the ``aws`` section
    (then the normal boto3 chain)."""

    SHORTHAND: ClassVar[str] = "stream_name"
    stream_name: str = setting(check=matches(r"[a-zA-Z0-9_.-]{1,256}", "a KVS stream name"))
    region: str | None = setting(None, check=valid_region)
    endpoint_url: str | None = setting(None, check=valid_endpoint)
    profile: str | None = setting(None, check=not_empty)
    hls_session_seconds: int = setting(300, check=between(300, 43200),
                                       doc="Expires of GetHLSStreamingSessionURL")
    refresh_margin_s: float = setting(30.0, check=greater_than(0),
                                      doc="refresh the session URL this long before expiry")

    def validate(self) -> Iterator[tuple[str, str]]:
        if self.refresh_margin_s >= self.hls_session_seconds:
            yield "refresh_margin_s", (f"must be less than hls_session_seconds "
                                       f"({self.refresh_margin_s:g} >= {self.hls_session_seconds})")


def check_url(url: str) -> str | None:
    """Why ``url`` is not a usable ``url:`` source, or None (plain paths are the reader's)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() == "file":
        return None
    if scheme.lower() not in URL_SCHEMES:
        return f"not an rtsp/http(s)/file URL (scheme {scheme!r})"
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    return None if host else f"{url!r} has no host"


@dataclass(frozen=True, kw_only=True)
class SourceConfig:
    """Exactly one of ``kvs`` or ``url``."""

    kvs: KvsSource | None = None
    url: str | None = setting(None, check=check_url, kind="location",
                              doc="rtsp(s)://, http(s):// (HLS), file:// or a plain path")
    transport: Literal["tcp", "udp"] | None = setting(
        None, doc="rtsp(s) only: RTP over the RTSP connection (tcp) or over UDP; null: tcp")
    username: str | None = setting(None, check=not_empty, doc="rtsp(s) only: user name")
    password_env: str | None = setting(
        None, check=matches(r"[A-Za-z_][A-Za-z0-9_]*", "an environment variable name"),
        doc="rtsp(s) only: the environment variable holding the password")
    password_file: str | None = setting(None, kind="path",
                                        doc="rtsp(s) only: a file holding the password")

    def validate(self) -> Iterator[tuple[str, str]]:
        if (self.kvs is None) == (self.url is None):
            yield "", "set exactly one of 'kvs' (a Kinesis Video stream) or 'url'"
        rtsp = self.url is not None and self.url.lower().startswith(("rtsp://", "rtsps://"))
        for key in ("transport", "username", "password_env", "password_file"):
            if getattr(self, key) is not None and not rtsp:
                yield key, "applies to rtsp:// and rtsps:// URLs only"
        if self.password_env is not None and self.password_file is not None:
            yield "password_env", "set password_env or password_file, not both"
        if (self.password_env or self.password_file) and self.username is None:
            yield "username", "a password needs a username"

    @property
    def kind(self) -> str:
        """``"kvs"`` or ``"url"``."""
        return "kvs" if self.kvs is not None else "url"


def _resolution(value: tuple[int, int]) -> str | None:
    width, height = value
    if 16 <= width <= MAX_WIDTH and 16 <= height <= MAX_HEIGHT:
        return None
    return f"must be within [16, 16] .. [{MAX_WIDTH}, {MAX_HEIGHT}] (got [{width}, {height}])"


@dataclass(frozen=True, kw_only=True)
class CameraDefaults:
    """Every per-camera setting a camera may leave out (the ``defaults`` section)."""

    target_fps: float | None = setting(None, check=greater_than(0),
                                       doc="frames kept per second; null: the stream's own")
    ring_slots: int = setting(8, check=between(2, 256))
    max_resolution: tuple[int, int] = setting((1920, 1080), check=_resolution,
                                              doc="[width, height] the ring slots are sized for")
    backoff: BackoffConfig = setting(factory=BackoffConfig)
    stall: StallConfig = setting(factory=StallConfig)
    max_consecutive_errors: int = setting(10, check=at_least(1),
                                          doc="errors in a row before the camera is failed")


@dataclass(frozen=True, kw_only=True)
class CameraConfig(CameraDefaults):
    """One camera: an id (its ring is ``kvspool.<pool>.<id>``), a source, and the settings."""

    id: str = setting(check=valid_name)
    source: SourceConfig = setting()

    @property
    def frame_timeout_s(self) -> float:
        """Effective seconds without frames before the source reconnects."""
        return self.stall.frame_timeout(self.target_fps)
