"""MQTT publisher (paho-mqtt): events to a broker on Frigate's topics, so Home Assistant and
other MQTT users take them as they take Frigate's.

Topics (``<p>`` = ``topic_prefix``, default ``kvs_pool``; all QoS 1):

* ``<p>/events``: the event JSON (``type`` start / end, see ``kvs_pool.pipeline.events``).
* ``<p>/<camera>/<label>``: how many presences of ``label`` are open on ``camera`` (``"2"``),
  retained.
* ``<p>/available``: ``online`` once connected; ``offline`` on close, or as the broker's last
  will when the process dies; retained.

Delivery: a batch is published at once (pipelined on the one connection) and an event counts
as delivered when the broker acknowledged it (PUBACK) within ``timeout_s`` of the batch. While
the client is not connected (paho reconnects by itself in its network thread, 1 s -> 30 s),
items fail at once without being handed to paho, so the outbox keeps them in order and retries
with its backoff: an outage delays events, never drops them. An event
whose PUBACK did not come may be sent twice (at least once: subscribers de-duplicate on
``event_id``); per camera, first occurrences keep the outbox's order. Counts follow start and
end events by ``presence_id`` (a repeated event does not count twice) and are not awaited.

Secrets: the password comes from ``password_env`` or ``password_file`` (``kvs_pool.secrets``)
and appears in no log line. paho-mqtt is optional (``pip install 'kvs-pool[mqtt]'``): it is
imported when a publisher is built, and ``kvs-pool check`` reports a config needing it.
"""

from __future__ import annotations

import json
import logging
import os
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kvs_pool.errors import ConfigError
from kvs_pool.publish.base import OutboxItem, Outcome, publish_each
from kvs_pool.secrets import read_secret

__all__ = ["MqttParams", "MqttPublisher", "PIP_HINT"]

log = logging.getLogger(__name__)

PIP_HINT = "pip install 'kvs-pool[mqtt]'"
QOS = 1
ONLINE, OFFLINE = "online", "offline"


@dataclass(frozen=True)
class MqttParams:
    """One broker and topic prefix (fields as in the config's ``type: mqtt`` publisher)."""

    host: str
    port: int = 1883
    topic_prefix: str = "kvs_pool"
    client_id: str | None = None
    username: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    tls: bool = False
    ca_file: str | None = None
    timeout_s: float = 10.0
    batch_size: int = 100
    keepalive_s: int = 30


def _paho() -> Any:
    try:
        import paho.mqtt.client as mqtt
    except ImportError:
        raise ConfigError([f"publisher type mqtt needs paho-mqtt: {PIP_HINT}"]) from None
    return mqtt


class MqttPublisher:
    """Stage-1 publisher to one MQTT broker; connects in the background at construction."""

    stage = 1

    def __init__(self, params: MqttParams) -> None:
        self.params = params
        self.name = f"mqtt:{params.host}:{params.port}/{params.topic_prefix}"
        self.batch_size = max(1, params.batch_size)
        self._open: dict[tuple[str, str], set[str]] = {}
        self._connected = threading.Event()
        self._closing = False
        self.client = self._make_client()
        self.client.connect_async(params.host, params.port, keepalive=params.keepalive_s)
        self.client.loop_start()

    def _topic(self, *parts: str) -> str:
        return "/".join((self.params.topic_prefix, *parts))

    def _make_client(self) -> Any:
        mqtt, p = _paho(), self.params
        client_id = p.client_id or f"kvs-pool-{p.topic_prefix.replace('/', '-')}-{os.getpid()}"
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        password = read_secret(p.password_env, p.password_file, f"{self.name}: password")
        if p.username:
            client.username_pw_set(p.username, password)
        if p.tls:
            client.tls_set(ca_certs=p.ca_file, cert_reqs=ssl.CERT_REQUIRED)
        client.will_set(self._topic("available"), OFFLINE, qos=QOS, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        return client

    def _on_connect(self, client: Any, _userdata: Any, _flags: Any, reason: Any,
                    _props: Any = None) -> None:
        if reason.is_failure:
            log.warning("%s: broker refused the connection: %s", self.name, reason)
            return
        client.publish(self._topic("available"), ONLINE, qos=QOS, retain=True)
        self._connected.set()
        log.info("%s: connected", self.name)

    def _on_disconnect(self, _client: Any, _userdata: Any, _flags: Any, reason: Any,
                       _props: Any = None) -> None:
        if self._connected.is_set() and not self._closing:
            log.warning("%s: disconnected (%s); reconnecting", self.name, reason)
        self._connected.clear()

    def wait_connected(self, timeout: float) -> bool:
        """True once connected to the broker (False after ``timeout`` seconds)."""
        return self._connected.wait(timeout)

    def publish(self, items: Sequence[OutboxItem]) -> list[Outcome]:
        """Publish the batch at once, then collect PUBACKs in order (one deadline for all); a
        camera's items after its first failure get no outcome and stay queued (see above)."""
        if not self._connected.is_set():
            return publish_each(items, lambda i: Outcome(i.seq, False, "not connected"))
        infos = {item.seq: self._publish_event(item) for item in items}
        deadline = time.monotonic() + self.params.timeout_s
        return publish_each(items, lambda item: self._acked(item, infos[item.seq], deadline))

    def _publish_event(self, item: OutboxItem) -> Any:
        body = json.dumps(item.event, separators=(",", ":"), sort_keys=True)
        return self.client.publish(self._topic("events"), body, qos=QOS)

    def _acked(self, item: OutboxItem, info: Any, deadline: float) -> Outcome:
        try:
            info.wait_for_publish(max(0.0, deadline - time.monotonic()))
        except (RuntimeError, ValueError) as exc:   # queue full / not connected meanwhile
            return Outcome(item.seq, False, f"publish failed: {exc}")
        if not info.is_published():
            return Outcome(item.seq, False, f"no PUBACK within {self.params.timeout_s:g} s")
        self._count(item)
        return Outcome(item.seq, True)

    def _count(self, item: OutboxItem) -> None:
        """Update and publish (retained) the open-presence count of the event's camera/label."""
        event, kind = item.event, item.event.get("type")
        label = str(event.get("class", "unknown"))
        presences = self._open.setdefault((item.camera_id, label), set())
        presence = str(event.get("presence_id") or item.event_id)
        if kind == "start":
            presences.add(presence)
        elif kind == "end":
            presences.discard(presence)
        else:
            return
        self.client.publish(self._topic(item.camera_id, label), str(len(presences)), qos=QOS,
                            retain=True)

    def close(self) -> None:
        """Say ``offline`` (retained), disconnect cleanly and stop the network thread."""
        self._closing = True
        if self._connected.is_set():
            info = self.client.publish(self._topic("available"), OFFLINE, qos=QOS, retain=True)
            try:
                info.wait_for_publish(min(self.params.timeout_s, 2.0))
            except (RuntimeError, ValueError):
                pass
        self.client.disconnect()
        self.client.loop_stop()
