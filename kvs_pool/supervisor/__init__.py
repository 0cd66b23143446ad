"""The supervisor: runs a pool of worker processes (decoders, inference) around their rings.

``Arbiter(config, RunOptions(...)).run()`` is the whole pool: it owns the rings, spawns workers
from ``WorkerSpec``s, restarts them with per-worker backoff, detects hung ones, reloads on
SIGHUP, serves metrics and stops cleanly on SIGTERM. ``sdnotify`` talks to systemd.
"""

from kvs_pool.supervisor.arbiter import Arbiter, RunOptions
from kvs_pool.supervisor.specs import WorkerSpec, specs_from_config

__all__ = ["Arbiter", "RunOptions", "WorkerSpec", "specs_from_config"]
