"""The emulator's control API under bad input and from other hosts: a malformed fault request
is a 400 naming the field (never a 500 or a traceback), absurd values are refused, a client
that goes away costs no traceback, and non-loopback clients are refused unless allowed."""

from __future__ import annotations

import json
import logging
import socket
import struct
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import psutil
import pytest
from emu_world import SPEC

from kvs_pool.emulator import EmulatorConfig, EmulatorServer


def _post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url + "/_emulator/faults", method="POST", data=body)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.DEBUG, logger="kvs_pool"):
        yield caplog


BAD = [
    (b"[1, 2]", "JSON object"),
    (b"{not json", "bad fault request"),
    (b"\xff\xfe{}", "bad fault request"),
    (b'"expire_sessions"', "JSON object"),
    (b'{"fault": ["stall"]}', "unknown fault"),
    (b'{"fault": "resolution", "width": -320, "height": 240}', "width"),
    (b'{"fault": "resolution", "width": 321, "height": 240}', "width"),
    (b'{"fault": "resolution", "width": "wide", "height": 240}', "width"),
    (b'{"fault": "resolution", "width": 320}', "height"),
    (b'{"fault": "session_seconds", "seconds": -1}', "seconds"),
    (b'{"fault": "session_seconds", "seconds": "5"}', "seconds"),
    (b'{"fault": "corrupt", "count": 1e9}', "count"),
    (b'{"fault": "corrupt", "count": -1}', "count"),
    (b'{"fault": "stall", "seconds": -3}', "seconds"),
    (b'{"fault": "stall", "stream": 7}', "stream"),
    (b'{"fault": "error_burst", "status": 500, "count": 1000000000}', "count"),
    (b'{"fault": "error_burst", "status": true}', "status"),
    (b'{"fault": "error_burst", "status": 200}', "status"),
    (b'{"fault": "error_burst", "status": 500, "plane": "air"}', "plane"),
    (b'{"fault": "throttle", "count": 0}', "count"),
    (b'{"fault": "corrupt", "stream": "no-such-stream"}', "no-such-stream"),
]


@pytest.mark.parametrize("body,named", BAD, ids=[b.decode(errors="replace")[:40] for b, _ in BAD])
def test_malformed_fault_request_is_a_400_naming_the_field(emu: EmulatorServer, logged,
                                                           body: bytes, named: str) -> None:
    status, doc = _post(emu.base_url, body)
    assert status == 400, doc
    assert doc["__type"] == "InvalidArgumentException" and named in doc["message"], doc
    assert not [r for r in logged.records if r.levelno >= logging.ERROR], logged.text
    assert emu.state()["bursts"] == [] and emu.state()["session_seconds"] is None


def test_valid_fault_requests_still_apply(emu: EmulatorServer) -> None:
    assert _post(emu.base_url, b'{"fault": "session_seconds", "seconds": 2.5}')[0] == 200
    assert _post(emu.base_url, b'{"fault": "error_burst", "status": 503, "count": 2}')[0] == 200
    state = emu.state()
    assert state["session_seconds"] == 2.5 and state["bursts"][0]["count"] == 2


def _raw(url: str, payload: bytes) -> socket.socket:
    host, port = url.rsplit("/", 1)[-1].split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(payload)
    return sock


def test_bad_content_length_is_a_400(emu: EmulatorServer, logged) -> None:
    sock = _raw(emu.base_url, b"POST /_emulator/faults HTTP/1.1\r\nHost: x\r\n"
                              b"Content-Length: lots\r\n\r\n{}")
    with sock:
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400") and b"Content-Length" in answer, answer
    assert not [r for r in logged.records if r.levelno >= logging.ERROR], logged.text


def test_client_that_goes_away_costs_no_traceback(emu: EmulatorServer, logged, capfd) -> None:
    """A client resets its connection in the middle of its request body: one debug line."""
    sock = _raw(emu.base_url, b"POST /_emulator/faults HTTP/1.1\r\nHost: x\r\n"
                              b"Content-Length: 1000\r\n\r\n{\"fault\":")
    time.sleep(0.3)  # the server is now reading the rest of the body
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # RST
    deadline = time.monotonic() + 30
    while "went away" not in logged.text:
        assert time.monotonic() < deadline, logged.text
        time.sleep(0.05)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Traceback" not in logged.text, err + logged.text


def _other_address() -> str | None:
    """An IPv4 address of this host that is not loopback (None if it has none)."""
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family == socket.AF_INET and not address.address.startswith("127."):
                return address.address
    return None


@pytest.mark.parametrize("allowed", [False, True])
def test_control_api_refuses_non_loopback_clients_unless_allowed(allowed: bool, logged) -> None:
    other = _other_address()
    if other is None:
        pytest.skip("this host has no non-loopback IPv4 address to connect from")
    config = EmulatorConfig(streams=(SPEC,), host="0.0.0.0", allow_remote_faults=allowed)
    with EmulatorServer(config) as server:
        port = server.base_url.rsplit(":", 1)[1]
        remote, local = f"http://{other}:{port}", f"http://127.0.0.1:{port}"
        status, doc = _post(remote, b'{"fault": "session_seconds", "seconds": 9}')
        assert status == (200 if allowed else 403), doc
        assert server.state()["session_seconds"] == (9 if allowed else None)
        if not allowed:
            assert "loopback" in doc["message"] and other in logged.text
        assert _post(local, b'{"fault": "clear"}')[0] == 200
        absolute = (b"POST http://x/_emulator/faults HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Length: 17\r\n\r\n{\"fault\":\"clear\"}")
        with _raw(remote, absolute) as sock:  # an absolute URI reaches the same route
            assert sock.recv(4096).startswith(b"HTTP/1.1 200" if allowed else b"HTTP/1.1 403")
        with urllib.request.urlopen(remote + "/_emulator/state" if allowed else
                                    local + "/_emulator/state", timeout=30) as answer:
            assert answer.status == 200
