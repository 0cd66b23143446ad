"""Logging set-up: one logger per module, text or JSON lines, camera id on worker lines.

Workers add ``camera_id`` (and ``worker``) to every record through ``bind()``; the JSON format
emits them as fields, the text format as a ``[camera_id]`` prefix.

Under systemd, when stderr is the journal's own stream (``JOURNAL_STREAM`` names its device and
inode), each line starts with a syslog priority prefix (``<3>`` error, ``<4>`` warning, ``<6>``
info, ``<7>`` debug; sd-daemon(3)), so ``journalctl -p err`` finds errors.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

__all__ = ["configure", "bind", "JsonFormatter", "TextFormatter", "JournalPrefix",
           "stderr_is_journal"]

_CONTEXT_KEYS = ("camera_id", "worker")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, context fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in _CONTEXT_KEYS:
            value = getattr(record, key, None)
            if value is not None:
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


class TextFormatter(logging.Formatter):
    """``2026-11-24T12:00:00Z INFO kvs_pool.x [cam-1] message``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(context)s%(message)s",
                         "%Y-%m-%dT%H:%M:%SZ")
        # UTC, as the Z says. Set on the instance: as a class attribute mypy takes a function
        # for a method (bound to self), which time.gmtime, a builtin, is not.
        self.converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        tags = [str(getattr(record, k)) for k in _CONTEXT_KEYS if getattr(record, k, None)]
        record.context = f"[{' '.join(tags)}] " if tags else ""
        return super().format(record)


class JournalPrefix(logging.Formatter):
    """Wrap a formatter: prefix each line with its sd-daemon priority (``<3>`` for errors)."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in self.inner.format(record).split("\n"))


def _priority(levelno: int) -> int:
    """syslog priority of a logging level: 2 crit, 3 err, 4 warning, 6 info, 7 debug."""
    if levelno >= logging.CRITICAL:
        return 2
    if levelno >= logging.ERROR:
        return 3
    if levelno >= logging.WARNING:
        return 4
    return 6 if levelno >= logging.INFO else 7


def stderr_is_journal() -> bool:
    """True when stderr is the journal stream systemd gave us (``JOURNAL_STREAM=dev:inode``)."""
    device, _, inode = os.environ.get("JOURNAL_STREAM", "").partition(":")
    try:
        st = os.fstat(sys.stderr.fileno())
        return (st.st_dev, st.st_ino) == (int(device), int(inode))
    except (ValueError, OSError):
        return False


class _ContextFilter(logging.Filter):
    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__()
        self.fields = fields

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in self.fields.items():
            if getattr(record, key, None) is None:
                setattr(record, key, value)
        return True


def bind(**fields: str) -> None:
    """Stamp every record of this process with the given context (e.g. camera_id)."""
    flt = _ContextFilter(fields)
    for handler in logging.getLogger().handlers:
        handler.addFilter(flt)


def configure(level: str = "info", fmt: str = "text") -> None:
    """Send all logs to stderr in the chosen format; safe to call again in a child."""
    handler = logging.StreamHandler(sys.stderr)
    formatter: logging.Formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    handler.setFormatter(JournalPrefix(formatter) if stderr_is_journal() else formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
