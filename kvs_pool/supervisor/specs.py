"""Worker specs: what the supervisor runs, compared on reload.

A ``WorkerSpec`` is generic: a name, a kind, an entry point (a module-level function) called
as ``fn(payload, stop) -> exit code`` in a forked process (see ``supervisor.child``), a
picklable payload, and the restart/stall settings. Specs compare by everything but the
payload, plus a ``fingerprint`` of what the worker really depends on, so on reload "changed"
means ``old != new``. The pool builds them from its config (``kvs_pool.pool.specs``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kvs_pool.backoff import BackoffPolicy
from kvs_pool.supervisor.child import Entry

__all__ = ["WorkerSpec"]


@dataclass(frozen=True)
class WorkerSpec:
    """One supervised worker."""

    name: str
    kind: str
    entry: Entry                        # module-level fn(payload, stop) -> exit code
    payload: Any = field(compare=False)
    fingerprint: Any = None             # what the worker depends on (compared on reload)
    camera_id: str | None = None
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    heartbeat_timeout_s: float = 20.0
    startup_grace_s: float = 0.0        # allowed before the first heartbeat (max with timeout)
    frame_timeout_s: float | None = None   # configured; None: derived (kvs_pool.stall)
    target_fps: float | None = None
    env: tuple[tuple[str, str], ...] = ()
    preload: tuple[str, ...] = ()       # modules its template imports beyond the shared ones
    stop_last: bool = False             # stopped after the others (producers their readers use)
