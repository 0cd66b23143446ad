"""sd_notify against a real AF_UNIX datagram socket, as systemd would listen."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvs_pool.supervisor import sdnotify


@pytest.fixture
def listener(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A datagram socket on a filesystem path, named in $NOTIFY_SOCKET."""
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(10)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        yield sock


def test_ready_watchdog_stopping_arrive_in_order(listener: socket.socket) -> None:
    assert sdnotify.ready("2 cameras")
    assert sdnotify.watchdog()
    assert sdnotify.status("degraded: 1 camera failing")
    assert sdnotify.stopping()
    received = [listener.recv(4096).decode() for _ in range(4)]
    assert received == ["READY=1\nSTATUS=2 cameras", "WATCHDOG=1",
                        "STATUS=degraded: 1 camera failing", "STOPPING=1"]


def test_abstract_socket_name(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"kvs-pool-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(10)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sdnotify.notify("READY=1")
        assert sock.recv(4096) == b"READY=1"


def test_without_systemd_every_call_is_a_quiet_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.ready() is False
    assert sdnotify.watchdog() is False
    assert sdnotify.notify("READY=1", env={"NOTIFY_SOCKET": "vsock:2:1234"}) is False


def test_socket_nobody_listens_on_returns_false(tmp_path: Path) -> None:
    env = {"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}
    assert sdnotify.notify("WATCHDOG=1", env=env) is False


def test_watchdog_interval_from_environment() -> None:
    me = str(os.getpid())
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": me}) == 30.0
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "500000"}) == 0.5
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert sdnotify.watchdog_interval({}) is None
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "soon"}) is None
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "0"}) is None
