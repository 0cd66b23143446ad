"""Debian's mosquitto for the MQTT tests: a broker on a free loopback port with a temp config
(persistence on, so a subscriber's session and its queued messages survive a broker restart),
optionally with a password file and TLS (a throwaway CA made with openssl), and a recording
subscriber (paho, QoS 1, persistent session)."""

from __future__ import annotations

import getpass
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from tests.servers import free_port, stop_server

MOSQUITTO = "/usr/sbin/mosquitto"


def make_tls_files(directory: Path) -> dict[str, Path]:
    """A CA and a server certificate for 127.0.0.1 (openssl), in ``directory``."""
    files = {k: directory / f"{k}.pem" for k in ("ca", "ca_key", "cert", "key")}
    csr, ext = directory / "server.csr", directory / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    run = [
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=test-ca", "-keyout", files["ca_key"], "-out", files["ca"]],
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
         "-keyout", files["key"], "-out", csr],
        ["openssl", "x509", "-req", "-in", csr, "-CA", files["ca"], "-CAkey", files["ca_key"],
         "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", files["cert"]],
    ]
    for args in run:
        subprocess.run([str(a) for a in args], check=True, capture_output=True)
    return files


@dataclass
class Broker:
    """One mosquitto process; ``start()``/``stop()`` may be repeated (same port, same data)."""

    directory: Path
    port: int = field(default_factory=free_port)
    users: dict[str, str] = field(default_factory=dict)
    tls: dict[str, Path] | None = None
    proc: subprocess.Popen[bytes] | None = None

    def _config(self) -> Path:
        lines = [f"listener {self.port} 127.0.0.1", "persistence true",
                 f"persistence_location {self.directory}/", "log_dest stderr",
                 # started as root, mosquitto switches to user "mosquitto", who cannot read
                 # the test's private temp files: stay who we are
                 f"user {getpass.getuser()}",
                 f"allow_anonymous {'false' if self.users else 'true'}"]
        if self.users:
            passwords = self.directory / "passwd"
            passwords.write_text("")
            for user, password in self.users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(passwords), user, password],
                               check=True, capture_output=True)
            lines.append(f"password_file {passwords}")
        if self.tls:
            lines += [f"cafile {self.tls['ca']}", f"certfile {self.tls['cert']}",
                      f"keyfile {self.tls['key']}"]
        path = self.directory / "mosquitto.conf"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self, timeout: float = 20.0) -> Broker:
        with open(self.directory / "mosquitto.log", "ab") as log:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self._config())],
                                         stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                said = (self.directory / "mosquitto.log").read_text()[-2000:]
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {said}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("mosquitto did not listen in time")

    def stop(self) -> None:
        """SIGTERM (mosquitto saves its persistence file), then SIGKILL; reaped."""
        if self.proc is not None:
            stop_server(self.proc)
        self.proc = None


class Subscriber:
    """Records (topic, payload, retain) of every message on ``topics`` (QoS 1, persistent
    session: messages published while it is away are queued by the broker)."""

    def __init__(self, broker: Broker, topics: list[str], client_id: str = "recorder",
                 **auth: Any) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.topics = topics
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=False)
        if auth.get("username"):
            self.client.username_pw_set(auth["username"], auth.get("password"))
        if auth.get("ca"):
            self.client.tls_set(ca_certs=str(auth["ca"]))
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_a: self.subscribed.set()
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.connect_async("127.0.0.1", broker.port, keepalive=10)
        self.client.loop_start()
        if not self.subscribed.wait(20):
            self.close()
            raise RuntimeError("subscriber could not subscribe")

    def _on_connect(self, client: Any, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
        if not reason.is_failure:
            client.subscribe([(t, 1) for t in self.topics])

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        with self.lock:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain)))

    def on(self, topic: str) -> list[bytes]:
        with self.lock:
            return [payload for t, payload, _ in self.messages if t == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
