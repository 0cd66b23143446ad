"""Process entry points run by the supervisor (see ``kvs_pool.workers.entries``).

A worker entry point is a plain module-level function ``fn(payload, stop) -> int`` held as a
callable in a ``WorkerSpec``: ``payload`` is a picklable object built by the pool (e.g.
``DecoderArgs``), ``stop`` a ``threading.Event`` set on SIGTERM. The process bootstrap
(``kvs_pool.supervisor.child``) configures logging, the parent-death signal and the signal
handlers before calling it, and exits with the returned code, one of ``kvs_pool.exits``
(re-exported here).
"""

from __future__ import annotations

from kvs_pool.exits import EXIT_CONFIG, EXIT_CRASH, EXIT_GAVE_UP, EXIT_MEANINGS, EXIT_OK, EXIT_ORPHANED

__all__ = ["EXIT_OK", "EXIT_CRASH", "EXIT_CONFIG", "EXIT_GAVE_UP", "EXIT_ORPHANED",
           "EXIT_MEANINGS"]
