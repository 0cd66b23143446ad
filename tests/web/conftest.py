"""Fixtures for web tests: ``ring_pool`` (real rings, no processes) and ``served`` (the HTTP
port with the web app over it); both cleaned up whatever happens. The pool harness of the
supervisor tests (real ``kvs-pool run`` processes) and the publish tests' moto server are
importable here too."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

for helpers in ("supervisor", "publish"):  # test_pool_demo's config, awsworld (moto on loopback)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / helpers))

from awsworld import LocalMoto  # noqa: E402
from ringpool import RingPool, Served  # noqa: E402


@pytest.fixture
def ring_pool(pool_name: str, tmp_path: Path) -> Iterator[RingPool]:
    pool = RingPool(pool_name, stats_dir=str(tmp_path))
    try:
        pool.add("front")
        pool.add("yard", 160, 120)
        yield pool
    finally:
        pool.close()


@pytest.fixture
def served(ring_pool: RingPool, tmp_path: Path) -> Iterator[Served]:
    server = Served(ring_pool, [str(tmp_path / "events.jsonl")])
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def moto(aws_env: None) -> Iterator[LocalMoto]:
    """moto's server on loopback, with the suite's dummy credentials in the environment
    (inherited by a pool started afterwards)."""
    server = LocalMoto()
    server.start()
    try:
        yield server
    finally:
        server.stop()
