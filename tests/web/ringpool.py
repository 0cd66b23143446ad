"""A pool without processes for web tests: real rings owned by the test, a PoolView over them,
a real ``MetricsServer`` with the ``WebApp`` on a free loopback port, and an HTTP getter."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import numpy as np

from kvs_pool.metrics import MetricsServer, WorkerView
from kvs_pool.ring import ConnectionState, RingGeometry, RingStatus, RingWriter, create_ring
from kvs_pool.web import Access, WebApp
from kvs_pool.web.snapshots import SnapshotStore


@dataclass
class RingPool:
    """A PoolView over real rings, each with a writer the test drives."""

    pool: str
    owners: dict = field(default_factory=dict)
    writers: dict = field(default_factory=dict)
    views: list = field(default_factory=list)
    stats_dir: str | None = None

    def workers(self) -> list[WorkerView]:
        return self.views

    def camera_ids(self) -> list[str]:
        return list(self.owners)

    def ring_status(self, camera_id: str) -> RingStatus | None:
        return self.owners[camera_id].status()

    def add(self, camera_id: str, width: int = 320, height: int = 240) -> None:
        self.owners[camera_id] = create_ring(self.pool, camera_id,
                                             RingGeometry(width, height, slots=4))
        writer = RingWriter.attach(self.pool, camera_id)
        writer.set_state(ConnectionState.CONNECTED)
        self.writers[camera_id] = writer
        self.views.append(WorkerView(name=f"decoder-{camera_id}", kind="decoder",
                                     camera_id=camera_id, pid=os.getpid(), up=True, restarts=1,
                                     failures=0, backoff_s=0.0))

    def write(self, camera_id: str, image: np.ndarray) -> int:
        """Commit ``image`` as the camera's next frame; its sequence number."""
        writer = self.writers[camera_id]
        slot = writer.loan(*image.shape)
        slot[...] = image
        writer.heartbeat()
        writer.add(frames=1)
        return writer.commit(1.7e9)

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        for owner in self.owners.values():
            owner.unlink()


def pattern(seed: int, width: int = 320, height: int = 240) -> np.ndarray:
    """A frame with large flat areas (JPEG keeps their means) that differs per seed."""
    rng = np.random.default_rng(seed)
    image = np.empty((height, width, 3), np.uint8)
    image[...] = rng.integers(30, 220, 3, dtype=np.uint8)
    image[: height // 2, : width // 2] = rng.integers(30, 220, 3, dtype=np.uint8)
    return image


class Served:
    """A MetricsServer carrying a WebApp over ``pool``."""

    def __init__(self, pool: RingPool, events: list[str] | None = None,
                 access: Access = Access(), snapshots: SnapshotStore | None = None) -> None:
        self.app = WebApp(pool, lambda: events or [], access, snapshots=snapshots)
        self.server = MetricsServer(pool, "127.0.0.1", 0, app=self.app)
        self.server.start()
        self.url = self.server.url

    def get(self, path: str, headers: dict[str, str] | None = None,
            timeout: float = 30.0) -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def json(self, path: str) -> tuple[int, dict]:
        code, _, body = self.get(path)
        return code, json.loads(body)

    def stop(self) -> None:
        self.server.stop()
