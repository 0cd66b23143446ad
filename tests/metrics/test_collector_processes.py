"""The collector's per-process samples (CPU seconds, RSS) follow the worker table: a worker
that left it, or whose process ended, leaves the samples and the collector's process cache."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field

from kvs_pool.metrics import PoolCollector, WorkerView
from kvs_pool.ring import RingStatus


@dataclass
class Workers:
    """A PoolView with workers and no cameras."""

    pool: str = "p"
    views: list = field(default_factory=list)
    stats_dir: str | None = None

    def workers(self) -> list[WorkerView]:
        return self.views

    def camera_ids(self) -> list[str]:
        return []

    def ring_status(self, camera_id: str) -> RingStatus | None:
        return None


def test_process_samples_follow_the_worker_table() -> None:
    sleepers = [subprocess.Popen(["sleep", "60"]) for _ in range(3)]
    try:
        view = Workers(views=[WorkerView(name=f"w{i}", kind="inference", camera_id=None,
                                         pid=p.pid, up=True, restarts=0, failures=0,
                                         backoff_s=0.0) for i, p in enumerate(sleepers)])
        collector = PoolCollector(view)

        def sampled() -> set[str]:
            families = {m.name: m for m in collector.collect()}
            return {s.labels["worker"] for s in
                    families["kvs_pool_process_cpu_seconds"].samples}

        assert sampled() == {"supervisor", "w0", "w1", "w2"}
        view.views = view.views[1:]
        sleepers[2].kill()
        sleepers[2].wait()
        assert sampled() == {"supervisor", "w1"}
        assert set(collector._procs) == {os.getpid(), sleepers[1].pid}
    finally:
        for p in sleepers:
            p.kill()
            p.wait()
