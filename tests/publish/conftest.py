"""Fixtures for the publish tests (helpers in ``awsworld``): dummy credentials, a moto server
per test, its AWS resources, a fault-injecting Kinesis proxy, an outbox path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from awsworld import AwsWorld, FaultProxy, LocalMoto


@pytest.fixture(autouse=True)
def _dummy_aws(aws_env: None) -> None:
    """Every publish test runs with the suite's dummy credentials (``tests/conftest.py``)."""


@pytest.fixture
def moto_server() -> Iterator[LocalMoto]:
    server = LocalMoto()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def world(moto_server: LocalMoto) -> AwsWorld:
    w = AwsWorld(moto_server)
    w.create()
    return w


@pytest.fixture
def fault_proxy(moto_server: LocalMoto) -> Iterator[FaultProxy]:
    proxy = FaultProxy(moto_server.port)
    yield proxy
    proxy.close()


@pytest.fixture
def outbox_path(tmp_path: Path) -> Path:
    return tmp_path / "outbox" / "worker.sqlite"
