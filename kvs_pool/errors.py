"""The project's error types: one per failing part, each with a message a user can act on.

Every error the CLI may show derives from ``KvsPoolError``; the CLI prints ``str(error)`` and
exits non-zero instead of showing a traceback.
"""

from __future__ import annotations

__all__ = [
    "KvsPoolError",
    "ConfigError",
    "RingError",
    "RingNotFoundError",
    "RingLayoutError",
    "RingSpaceError",
    "RingUntrustedError",
    "FrameSourceError",
    "SourcePermanentError",
    "KVSConnectionError",
    "KVSPermanentError",
    "HLSStreamError",
    "DetectorError",
    "PublishError",
]


class KvsPoolError(Exception):
    """Base of every error kvs-pool raises on purpose."""


class ConfigError(KvsPoolError):
    """A configuration file is invalid; ``problems`` holds one ``file:key: reason`` per fault."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid configuration:\n  " + "\n  ".join(self.problems))


class RingError(KvsPoolError):
    """A shared-memory ring cannot be created, attached or used."""


class RingNotFoundError(RingError):
    """No ring exists for that pool and camera (pool not running, or wrong name)."""


class RingLayoutError(RingError):
    """The segment is not a kvs-pool ring of the layout version this code understands."""


class RingUntrustedError(RingError):
    """The segment at a ring's name belongs to another user or is open to others."""


class RingSpaceError(RingError):
    """/dev/shm has not room for the ring."""


class FrameSourceError(KvsPoolError):
    """A video source cannot be opened or read."""


class SourcePermanentError(FrameSourceError):
    """Retrying soon cannot help: the source's settings are wrong (no such stream, access
    denied, an invalid argument). A decoder exits with ``EXIT_CONFIG`` (restart after the
    maximum backoff); every other ``FrameSourceError`` that ends a source, such as giving up
    after ``max_consecutive_errors`` transient errors, is ``EXIT_GAVE_UP`` (normal backoff)."""


class KVSConnectionError(FrameSourceError):
    """The Kinesis Video Streams control plane refused or failed a call (AWS code in message)."""

    def __init__(self, message: str, code: str | None = None, retryable: bool = True) -> None:
        self.code = code
        self.retryable = retryable
        super().__init__(message)


class KVSPermanentError(KVSConnectionError, SourcePermanentError):
    """A KVS answer that retrying cannot fix (``retryable`` is False)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message, code=code, retryable=False)


class HLSStreamError(FrameSourceError):
    """An HLS playlist or fragment could not be fetched or decoded."""

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class DetectorError(KvsPoolError):
    """A detector cannot be built (missing model, bad layout) or run."""


class PublishError(KvsPoolError):
    """An event could not be delivered; the outbox keeps it for another try."""
