"""Tell systemd how the service is doing: the sd_notify datagram protocol, no dependency.

systemd (``Type=notify``) passes the path of a datagram socket in ``$NOTIFY_SOCKET``; a leading
``@`` means a Linux abstract socket name. Each message is newline-separated ``KEY=value``
assignments: ``READY=1`` once started, ``WATCHDOG=1`` at least every ``WatchdogSec`` (systemd
passes it as ``$WATCHDOG_USEC``, for the process ``$WATCHDOG_PID``), ``STOPPING=1`` when shutting
down, ``STATUS=...`` free text shown by ``systemctl status``. Outside systemd every call is a
no-op returning False, so callers never need to check whether they run under it.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

__all__ = ["notify", "ready", "watchdog", "stopping", "status", "watchdog_interval"]

log = logging.getLogger(__name__)


def _address(env: Mapping[str, str]) -> str | None:
    """The socket address from ``$NOTIFY_SOCKET``, or None when unset or not AF_UNIX."""
    path = env.get("NOTIFY_SOCKET", "")
    if path.startswith("@"):
        return "\0" + path[1:]
    if path.startswith("/"):
        return path
    if path:
        log.debug("NOTIFY_SOCKET %r is not an AF_UNIX address; not notifying", path)
    return None


def notify(state: str, env: Mapping[str, str] | None = None) -> bool:
    """Send ``state`` (e.g. ``"READY=1"``) to systemd; True if a socket took it."""
    address = _address(os.environ if env is None else env)
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode("utf-8"))
    except OSError as exc:
        log.warning("sd_notify %r failed: %s", state.split("\n", 1)[0], exc)
        return False
    return True


def ready(text: str | None = None) -> bool:
    """The service is up (``READY=1``), with an optional status line."""
    return notify("READY=1" + (f"\nSTATUS={text}" if text else ""))


def watchdog() -> bool:
    """Still alive and making progress (``WATCHDOG=1``)."""
    return notify("WATCHDOG=1")


def stopping(text: str | None = None) -> bool:
    """Shutting down (``STOPPING=1``), with an optional status line."""
    return notify("STOPPING=1" + (f"\nSTATUS={text}" if text else ""))


def status(text: str) -> bool:
    """A one-line status for ``systemctl status``."""
    return notify(f"STATUS={text}")


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """Seconds systemd allows between ``WATCHDOG=1`` (ping at half of it), or None when the
    watchdog is off or meant for another process."""
    env = os.environ if env is None else env
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid.strip() != str(os.getpid()):
        return None
    return usec / 1e6 if usec > 0 else None
