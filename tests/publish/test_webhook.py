"""The webhook publisher against a local HTTP server on 127.0.0.1: the HMAC-SHA256 signature,
5xx and 429 retried through the outbox with backoff, other 4xx rejected for good (the camera's
later events go on), a refused connection retried."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from awsworld import FAST_LOOP, make_event

from kvs_pool.publish import WebhookParams, WebhookPublisher, open_outbox
from kvs_pool.publish.base import OutboxItem
from kvs_pool.publish.webhook import SIGNATURE_HEADER
from tests.polling import wait_for

KEY = "hook-key-123"


class Hook(http.server.ThreadingHTTPServer):
    """Records every POST; answers the next status in ``script`` per event id (then 200)."""

    allow_reuse_address = True

    def __init__(self, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.script: dict[str, list[int]] = {}
        self.lock = threading.Lock()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook?token=abc"

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            self.received.append((headers, body))
            todo = self.script.get(json.loads(body)["event_id"], [])
            return todo.pop(0) if todo else 200

    def ids(self) -> list[str]:
        with self.lock:
            return [json.loads(body)["event_id"] for _, body in self.received]


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        headers = {k.lower(): v for k, v in self.headers.items()}
        status = self.server.answer(headers, body)   # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def key_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("HOOK_KEY", KEY)
    return "HOOK_KEY"


def _drain(path: Path, publisher: WebhookPublisher, events: list[dict]) -> dict:
    outbox, loop = open_outbox(path, [publisher], loop=FAST_LOOP)
    loop.start()
    try:
        for event in events:
            outbox.emit(event)
        wait_for(lambda: outbox.depth() == 0, 60, "the outbox to drain")
        return outbox.snapshot_stats()["publishers"][publisher.name]
    finally:
        loop.stop(flush_timeout_s=2)
        outbox.close()


def test_events_are_posted_signed_with_hmac_sha256(hook: Hook, key_env: str,
                                                   tmp_path: Path) -> None:
    publisher = WebhookPublisher(WebhookParams(hook.url, secret_env=key_env))
    events = [make_event("cam-a", n) for n in range(3)]
    _drain(tmp_path / "o.sqlite", publisher, events)
    assert publisher.name == f"webhook:http://127.0.0.1:{hook.server_address[1]}/hook"
    secret_url = "https://u:pw@hooks.example.com/x?token=t0k"   # name = metric label, log text
    assert WebhookPublisher(WebhookParams(secret_url)).name == "webhook:https://hooks.example.com/x"
    assert [json.loads(body) for _, body in hook.received] == events
    for headers, body in hook.received:
        want = "sha256=" + hmac.new(KEY.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers[SIGNATURE_HEADER.lower()], want)
        assert headers["content-type"] == "application/json"
        assert headers["x-kvs-pool-event"] == json.loads(body)["event_id"]


def test_a_secret_file_and_no_secret(hook: Hook, tmp_path: Path) -> None:
    (tmp_path / "key").write_text(KEY + "\n")
    signed = WebhookPublisher(WebhookParams(hook.url, secret_file=str(tmp_path / "key")))
    event = make_event("cam-a", 0)
    assert signed.publish([OutboxItem(1, event["event_id"], "cam-a", event)])[0].ok
    unsigned = WebhookPublisher(WebhookParams(hook.url))
    assert unsigned.publish([OutboxItem(2, event["event_id"], "cam-a", event)])[0].ok
    (signed_headers, body), (unsigned_headers, _) = hook.received
    assert signed_headers[SIGNATURE_HEADER.lower()] == \
        "sha256=" + hmac.new(KEY.encode(), body, hashlib.sha256).hexdigest()
    assert SIGNATURE_HEADER.lower() not in unsigned_headers


def test_5xx_and_429_are_retried_in_order(hook: Hook, tmp_path: Path) -> None:
    events = [make_event("cam-a", n) for n in range(4)]
    hook.script = {events[1]["event_id"]: [503, 500], events[2]["event_id"]: [429]}
    stats = _drain(tmp_path / "o.sqlite", WebhookPublisher(WebhookParams(hook.url)), events)
    ids = [e["event_id"] for e in events]
    assert hook.ids() == [ids[0], ids[1], ids[1], ids[1], ids[2], ids[2], ids[3]]
    assert stats == {"delivered": 4, "failures": 3, "retries": 3, "rejected": 0}


def test_other_4xx_reject_the_event_for_good_and_the_camera_goes_on(
        hook: Hook, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    events = [make_event("cam-a", n) for n in range(3)]
    hook.script = {events[1]["event_id"]: [400]}
    stats = _drain(tmp_path / "o.sqlite", WebhookPublisher(WebhookParams(hook.url)), events)
    assert hook.ids() == [e["event_id"] for e in events]   # the 400 one once, not retried
    assert stats == {"delivered": 2, "failures": 0, "retries": 0, "rejected": 1}
    assert any("rejected (HTTP 400" in r.getMessage() for r in caplog.records)


def test_a_refused_connection_is_retried_until_the_server_is_up(tmp_path: Path) -> None:
    hook = Hook()
    url, port = hook.url, hook.server_address[1]
    hook.shutdown()
    hook.server_close()                    # nothing listens on the port now
    publisher = WebhookPublisher(WebhookParams(url, timeout_s=2))
    event = make_event("cam-a", 0)
    outcome = publisher.publish([OutboxItem(1, event["event_id"], "cam-a", event)])[0]
    assert not outcome.ok and not outcome.rejected and "Connection refused" in outcome.error
    outbox, loop = open_outbox(tmp_path / "o.sqlite", [publisher], loop=FAST_LOOP)
    loop.start()
    try:
        outbox.emit(event)
        wait_for(lambda: outbox.stats.get("failures", publisher.name) >= 2, 30, "failed tries")
        hook = Hook(port)
        wait_for(lambda: outbox.depth() == 0, 30, "delivery once the server is up")
        assert hook.ids() == [event["event_id"]]
    finally:
        loop.stop()
        outbox.close()
        hook.shutdown()
        hook.server_close()
