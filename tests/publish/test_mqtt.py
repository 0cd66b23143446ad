"""The MQTT publisher against Debian's mosquitto started by the tests: Frigate's topics (events,
counts, a retained availability with a last will), QoS 1, a 30 s broker outage losing nothing
and keeping each camera's order, username/password over TLS, and ``check`` without paho."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from awsworld import FAST_LOOP, make_event
from mqttworld import Broker, Subscriber, make_tls_files

from kvs_pool.config import MqttPublisherConfig, parse_config
from kvs_pool.errors import ConfigError
from kvs_pool.publish import MqttParams, MqttPublisher, build_publisher, open_outbox
from kvs_pool.publish.base import OutboxItem
from kvs_pool.workers.params import publisher_params
from tests.polling import wait_for

PREFIX = "site1"
ALL = [f"{PREFIX}/#"]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    (tmp_path / "broker").mkdir()
    b = Broker(tmp_path / "broker").start()
    yield b
    b.stop()


@pytest.fixture
def subscribers() -> Iterator[list[Subscriber]]:
    made: list[Subscriber] = []
    yield made
    for sub in made:
        sub.close()


def _publisher(broker: Broker, **kw: object) -> MqttPublisher:
    return MqttPublisher(MqttParams(host="127.0.0.1", port=broker.port, topic_prefix=PREFIX,
                                    timeout_s=3.0, **kw))   # type: ignore[arg-type]


def _presence(camera: str, n: int, kind: str, presence: str) -> dict:
    event = make_event(camera, n, tag=kind)
    event.update(type=kind, presence_id=presence)
    return event


def test_events_counts_and_availability_on_frigates_topics(
        broker: Broker, subscribers: list[Subscriber], tmp_path: Path) -> None:
    sub = Subscriber(broker, ALL)
    subscribers.append(sub)
    outbox, loop = open_outbox(tmp_path / "o.sqlite", [_publisher(broker)], loop=FAST_LOOP)
    events = [_presence("cam-a", 0, "start", "p1"), _presence("cam-a", 1, "start", "p2"),
              _presence("cam-a", 2, "end", "p1"), _presence("cam-b", 3, "start", "p3")]
    loop.start()
    try:
        for event in events:
            outbox.emit(event)
        wait_for(lambda: len(sub.on(f"{PREFIX}/events")) == 4, 30, "4 events")
        wait_for(lambda: len(sub.on(f"{PREFIX}/cam-a/person")) == 3, 30, "3 counts")
    finally:
        loop.stop(flush_timeout_s=5)
        outbox.close()
    assert [json.loads(p) for p in sub.on(f"{PREFIX}/events")] == events
    assert sub.on(f"{PREFIX}/cam-a/person") == [b"1", b"2", b"1"]
    assert sub.on(f"{PREFIX}/cam-b/person") == [b"1"]
    wait_for(lambda: sub.on(f"{PREFIX}/available")[-1:] == [b"offline"], 10, "offline on close")
    assert sub.on(f"{PREFIX}/available")[0] == b"online"
    # retained: a newcomer learns the current count and availability at once
    late = Subscriber(broker, ALL, client_id="late")
    subscribers.append(late)
    wait_for(lambda: late.on(f"{PREFIX}/cam-a/person") == [b"1"], 10, "retained count")
    assert all(retain for topic, _, retain in late.messages)
    assert late.on(f"{PREFIX}/available") == [b"offline"]


CHILD = """
import sys, time
from kvs_pool.publish import MqttParams, MqttPublisher
p = MqttPublisher(MqttParams(host="127.0.0.1", port=int(sys.argv[1]), topic_prefix=sys.argv[2]))
assert p.wait_connected(30)
print("ready", flush=True)
time.sleep(600)
"""


def test_a_killed_publisher_leaves_offline_by_the_last_will(
        broker: Broker, subscribers: list[Subscriber]) -> None:
    sub = Subscriber(broker, [f"{PREFIX}/available"])
    subscribers.append(sub)
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(broker.port), PREFIX],
                             stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        wait_for(lambda: sub.on(f"{PREFIX}/available") == [b"online"], 10, "online")
        child.send_signal(signal.SIGKILL)
        wait_for(lambda: sub.on(f"{PREFIX}/available") == [b"online", b"offline"], 30,
                 "the last will")
    finally:
        child.kill()
        child.wait(timeout=10)
        if child.stdout is not None:
            child.stdout.close()


def test_a_30_s_broker_outage_loses_nothing_and_keeps_order_per_camera(
        broker: Broker, subscribers: list[Subscriber], tmp_path: Path) -> None:
    sub = Subscriber(broker, [f"{PREFIX}/events"])
    subscribers.append(sub)
    outbox, loop = open_outbox(tmp_path / "o.sqlite", [_publisher(broker)], loop=FAST_LOOP)
    cameras = ("cam-a", "cam-b", "cam-c")
    emitted = [make_event(cameras[n % 3], n) for n in range(150)]
    loop.start()
    try:
        for event in emitted[:30]:
            outbox.emit(event)
        wait_for(lambda: len(sub.on(f"{PREFIX}/events")) >= 30, 30, "events before the outage")
        broker.stop()
        down = time.monotonic()
        for event in emitted[30:120]:       # emitted during the 30 s outage
            outbox.emit(event)
            time.sleep(0.3)
        time.sleep(max(0.0, 30 - (time.monotonic() - down)))
        assert outbox.depth() >= 90
        broker.start()
        for event in emitted[120:]:
            outbox.emit(event)
        wait_for(lambda: outbox.depth() == 0, 90, "the outbox to drain")
        wait_for(lambda: {json.loads(p)["event_id"] for p in sub.on(f"{PREFIX}/events")}
                 >= {e["event_id"] for e in emitted}, 60, "every event at the subscriber")
    finally:
        loop.stop(flush_timeout_s=5)
        outbox.close()
    received = [json.loads(p)["event_id"] for p in sub.on(f"{PREFIX}/events")]
    for camera in cameras:
        want = [e["event_id"] for e in emitted if e["camera_id"] == camera]
        firsts = list(dict.fromkeys(i for i in received if i in set(want)))
        assert firsts == want, f"{camera}: lost or out of order"


def test_username_password_over_tls(tmp_path: Path, subscribers: list[Subscriber],
                                    monkeypatch: pytest.MonkeyPatch,
                                    caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "broker").mkdir()
    tls = make_tls_files(tmp_path)
    broker = Broker(tmp_path / "broker", users={"pool": "Mq77-pw", "ha": "ha-pw"}, tls=tls)
    broker.start()
    try:
        sub = Subscriber(broker, ALL, username="ha", password="ha-pw", ca=tls["ca"])
        subscribers.append(sub)
        monkeypatch.setenv("MQTT_PW", "Mq77-pw")
        caplog.set_level(logging.DEBUG)
        good = _publisher(broker, username="pool", password_env="MQTT_PW", tls=True,
                          ca_file=str(tls["ca"]))
        (tmp_path / "bad").write_text("not-the-pw\n")
        bad = _publisher(broker, username="pool", password_file=str(tmp_path / "bad"),
                         tls=True, ca_file=str(tls["ca"]), client_id="bad")
        item_event = make_event("cam-a", 1)
        item = OutboxItem(1, item_event["event_id"], "cam-a", item_event)
        wait_for(lambda: good.publish([item])[0].ok, 30, "a delivery over TLS")
        assert not bad.publish([item])[0].ok
        good.close()
        bad.close()
        wait_for(lambda: sub.on(f"{PREFIX}/events"), 10, "the event at the subscriber")
        assert not [r for r in caplog.records if "Mq77" in r.getMessage()
                    or "not-the-pw" in r.getMessage()]
    finally:
        broker.stop()


def _mqtt_config() -> str:
    return yaml.safe_dump({
        "pool": {"name": "t"},
        "cameras": [{"id": "c", "source": {"url": "rtsp://h/x"}}],
        "pipelines": [{"name": "p", "cameras": ["c"], "detector": {"type": "motion"},
                       "publishers": [{"type": "mqtt", "host": "broker.lan",
                                       "username": "u", "password_env": "MQTT_PW"}]}]})


def test_check_names_the_pip_command_when_paho_is_missing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_config(_mqtt_config(), "c.yaml", check_files=False).pipelines[0].publishers
    monkeypatch.setitem(sys.modules, "paho", None)   # as if not installed
    with pytest.raises(ConfigError) as err:
        parse_config(_mqtt_config(), "c.yaml", check_files=False)
    assert any("publishers[0].type: needs paho-mqtt" in p and "pip install 'kvs-pool[mqtt]'" in p
               for p in err.value.problems)


def test_factory_builds_mqtt_from_config(broker: Broker) -> None:
    config = MqttPublisherConfig(host="127.0.0.1", port=broker.port)
    publisher = build_publisher(publisher_params(config))
    try:
        assert publisher.name == f"mqtt:127.0.0.1:{broker.port}/kvs_pool"
    finally:
        publisher.close()   # type: ignore[attr-defined]
