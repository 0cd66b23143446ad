"""The supervisor: runs a pool of worker processes, generic over what the workers do.

``Arbiter(hooks, RunOptions(...)).run()`` forks workers from ``WorkerSpec``s (entry: a
module-level function), restarts them with per-worker backoff, detects hung ones (their
heartbeat comes from the hooks), follows new specs on SIGHUP and stops cleanly on SIGTERM.
Rings, config, metrics and the state file are the pool's, behind ``PoolHooks``
(``kvs_pool.pool.runtime``). ``sdnotify`` talks to systemd.
"""

from kvs_pool.supervisor.arbiter import Arbiter, RunOptions
from kvs_pool.supervisor.hooks import PoolHooks
from kvs_pool.supervisor.specs import WorkerSpec

__all__ = ["Arbiter", "RunOptions", "PoolHooks", "WorkerSpec"]
