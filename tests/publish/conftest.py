"""Fixtures for the publish tests (helpers in ``awsworld``): dummy credentials, a moto server
per test, its AWS resources, a fault-injecting Kinesis proxy, an outbox path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from awsworld import REGION, AwsWorld, FaultProxy, LocalMoto


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials; boto3's chain picks them up from the environment."""
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


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
