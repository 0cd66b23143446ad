"""The supervisor's rings as their readers see them: a camera removed from the config tells its
readers so (the pool runs on), a stopping pool tells them the pool has stopped."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kvs_pool.config import parse_config
from kvs_pool.errors import RingError
from kvs_pool.pool.rings import RingSet
from kvs_pool.ring import RingReader


@pytest.fixture
def rings(pool_name: str) -> Iterator[RingSet]:
    config = parse_config(f"pool: {{name: {pool_name}}}\ndefaults: {{max_resolution: [64, 48]}}\n"
                          "cameras: [{id: a, source: {url: 'http://127.0.0.1:9/x'}},"
                          " {id: b, source: {url: 'http://127.0.0.1:9/y'}}]\n")
    owned = RingSet(pool_name)
    try:
        for camera in config.cameras:
            owned.ensure(camera)
        yield owned
    finally:
        owned.unlink_all()


def test_removed_camera_tells_its_readers_it_was_removed(rings: RingSet) -> None:
    with RingReader.attach(rings.pool, "a") as removed, RingReader.attach(rings.pool, "b") as kept:
        rings.drop("a")
        with pytest.raises(RingError) as caught:
            removed.next(timeout=5.0)
        message = str(caught.value)
        assert "removed from pool" in message and "has stopped" not in message, message
        assert not removed.status().pool_open
        rings.unlink_all()
        with pytest.raises(RingError, match="has stopped"):
            kept.next(timeout=5.0)
