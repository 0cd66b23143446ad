"""Fixtures of the pool tests: the pool tests' own segment cleanup (instances add a tag to the
pool name: ``kvspool.<pool>-<tag>.<camera>``, which the global fixture's glob does not match)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def sharded_pool(pool_name: str) -> Iterator[str]:
    """A pool name whose instances' segments are removed after the test."""
    yield pool_name
    for path in Path("/dev/shm").glob(f"kvspool.{pool_name}-*"):
        path.unlink(missing_ok=True)
