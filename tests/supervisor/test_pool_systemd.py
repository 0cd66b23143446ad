"""systemd's notify protocol from a real pool: READY=1 once the workers are spawned,
WATCHDOG=1 at about half the watchdog interval, STOPPING=1 on SIGTERM, all sent by the
supervisor itself (sender pid from SCM_CREDENTIALS)."""

from __future__ import annotations

import socket
import struct
import time

import pytest

SENDERS: set[int] = set()


def _messages(sock: socket.socket, until: str, timeout: float) -> list[tuple[str, float]]:
    got, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            raw, ancillary, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except TimeoutError:
            break
        for level, kind, cred in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                SENDERS.add(struct.unpack("iII", cred[:12])[0])
        data = raw.decode()
        got.append((data, time.monotonic()))
        if until in data:
            return got
    pytest.fail(f"no {until!r} from the pool within {timeout:.0f} s (got {got})")


def test_ready_watchdog_stopping(pool_run, live_camera, tmp_path, monkeypatch) -> None:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        monkeypatch.setenv("WATCHDOG_USEC", "2000000")
        pool_run.write_config({"cam": live_camera})
        pool_run.start()
        ready = _messages(sock, "READY=1", 120)
        assert "STATUS=" in ready[-1][0]
        pings = [t for data, t in _messages(sock, "WATCHDOG=1", 30) if "WATCHDOG=1" in data]
        pings += [t for data, t in _messages(sock, "WATCHDOG=1", 30) if "WATCHDOG=1" in data]
        assert 0.3 < pings[-1] - pings[0] < 10  # about every second, not a flood
        pool_run.wait_frames("cam", timeout=120)
        pool_run.proc.send_signal(15)
        stopping = _messages(sock, "STOPPING=1", 60)
        assert all("READY" not in data for data, _ in stopping)
        assert pool_run.proc.wait(60) == 0
    assert SENDERS == {pool_run.proc.pid}
    assert pool_run.segments() == []
