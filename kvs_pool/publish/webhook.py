"""Webhook publisher: one HTTP POST of the event JSON per event, signed with HMAC-SHA256.

Request::

    POST <url>
    Content-Type: application/json
    X-KVS-Pool-Event: <event_id>                 (receivers de-duplicate on it)
    X-KVS-Pool-Signature: sha256=<hex HMAC-SHA256 of the body, keyed by the secret>

The body is the event as compact JSON with sorted keys, exactly the bytes signed. A receiver
checks ``hmac.compare_digest(header, "sha256=" + hmac(key, body, sha256).hexdigest())``. The key
comes from ``secret_env`` or ``secret_file`` (``kvs_pool.secrets``); without one, requests go
unsigned (no signature header).

Answers:

* 2xx: delivered.
* 5xx, 408, a network error or a timeout: failed; the outbox retries it with backoff and the
  camera's later events wait behind it. 429: the same, reported as throttling.
* any other 4xx (400, 401, 404, 413, ...): rejected. The receiver refuses this event for good
  and retrying cannot help, so it is logged (ERROR, with the answer), counted as ``rejected``,
  and the camera's later events go on.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

from kvs_pool.publish.base import OutboxItem, Outcome, publish_each
from kvs_pool.secrets import read_secret

__all__ = ["WebhookParams", "WebhookPublisher", "SIGNATURE_HEADER", "sign"]

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-KVS-Pool-Signature"
EVENT_HEADER = "X-KVS-Pool-Event"
RETRYABLE_4XX = frozenset({408, 429})


@dataclass(frozen=True)
class WebhookParams:
    """One endpoint (fields as in the config's ``type: webhook`` publisher)."""

    url: str
    secret_env: str | None = None
    secret_file: str | None = None
    timeout_s: float = 10.0
    batch_size: int = 50


def _public(url: str) -> str:
    """``url`` without user info, query or fragment (tokens live there): the publisher's name,
    which is a metric label and in every log line."""
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def sign(key: bytes, body: bytes) -> str:
    """The signature header's value for ``body``."""
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


class WebhookPublisher:
    """Stage-1 publisher POSTing each event to one URL."""

    stage = 1

    def __init__(self, params: WebhookParams) -> None:
        self.params = params
        self.name = f"webhook:{_public(params.url)}"
        self.batch_size = max(1, params.batch_size)
        secret = read_secret(params.secret_env, params.secret_file, f"{self.name}: secret")
        self._key = secret.encode() if secret is not None else None

    def publish(self, items: Sequence[OutboxItem]) -> list[Outcome]:
        """POST events one by one; a camera stops at its first retryable failure."""
        return publish_each(items, self._send)

    def _request(self, item: OutboxItem) -> urllib.request.Request:
        body = json.dumps(item.event, separators=(",", ":"), sort_keys=True).encode()
        headers = {"Content-Type": "application/json", EVENT_HEADER: item.event_id}
        if self._key is not None:
            headers[SIGNATURE_HEADER] = sign(self._key, body)
        return urllib.request.Request(self.params.url, body, headers, method="POST")

    def _send(self, item: OutboxItem) -> Outcome:
        try:
            with urllib.request.urlopen(self._request(item), timeout=self.params.timeout_s):
                return Outcome(item.seq, True)
        except urllib.error.HTTPError as exc:
            return self._answered(item, exc.code, exc.reason)
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            return Outcome(item.seq, False, f"{type(exc).__name__}: {reason}")

    def _answered(self, item: OutboxItem, code: int, reason: str) -> Outcome:
        error = f"HTTP {code} {reason}"
        if 400 <= code < 500 and code not in RETRYABLE_4XX:
            log.error("%s: event %s of camera %s rejected (%s); not retried", self.name,
                      item.event_id, item.camera_id, error, extra={"camera_id": item.camera_id})
            return Outcome(item.seq, False, error, rejected=True)
        return Outcome(item.seq, False, error, throttled=code == 429)
