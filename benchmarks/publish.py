"""Benchmark: events/s through the outbox and the Kinesis publisher to a local moto server, and
the outbox's write (emit) latency, each next to a baseline measured in the same process.

Also events/s through the outbox and the MQTT publisher to Debian's mosquitto (started here on a
free loopback port), next to a bare paho client publishing the same events at QoS 1 (all
published, then every PUBACK awaited); and through the outbox and the webhook publisher to a
local HTTP server answering 200, next to bare ``urllib`` POSTs of the same events. ``lost``
counts events the MQTT subscriber / HTTP server did not receive.

Baselines: bare ``put_records`` of the same events in 500-record batches (no outbox), and an
fsync'd append of the same JSON to a plain file (the cheapest durable write). ``lost_events``
counts emitted events not read back from the stream.

    python benchmarks/publish.py [--quick] [--events N]

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import boto3
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import WSGIRequestHandler, make_server

from kvs_pool.publish import AwsParams, KinesisParams, KinesisPublisher, LoopParams, OutboxParams, open_outbox
from kvs_pool.publish.base import OutboxItem
from kvs_pool.publish.kinesis import encode_record

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))   # the mosquitto helper lives with the tests that use it

REGION = "us-east-1"


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


def start_moto() -> str:
    """moto's server on a free 127.0.0.1 port in a daemon thread; returns its endpoint."""
    server = make_server("127.0.0.1", 0, DomainDispatcherApplication(create_backend_app),
                         threaded=True, request_handler=_QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def make_events(count: int, cameras: int = 4) -> list[dict[str, Any]]:
    now = time.time()
    return [{"event_id": uuid.uuid4().hex, "type": "start", "camera_id": f"cam-{i % cameras}",
             "pipeline": "bench", "class": "person", "score": 0.9, "box": [1, 2, 3, 4],
             "roi": None, "frame_ts": now + i * 1e-3, "detected_ts": now, "model": "m", "n": i}
            for i in range(count)]


def create_stream(kinesis: Any) -> str:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=name, ShardCount=2)
    kinesis.get_waiter("stream_exists").wait(StreamName=name)
    return name


def read_ids(kinesis: Any, stream: str) -> set[str]:
    ids: set[str] = set()
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        it = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while it:
            resp = kinesis.get_records(ShardIterator=it, Limit=10000)
            ids |= {json.loads(r["Data"])["event_id"] for r in resp["Records"]}
            it = resp.get("NextShardIterator") if resp["Records"] else None
    return ids


def bare_put_records(kinesis: Any, stream: str, events: list[dict[str, Any]]) -> float:
    """Events/s of plain put_records in 500-record batches."""
    records = [encode_record(OutboxItem(0, e["event_id"], e["camera_id"], e)) for e in events]
    start = time.perf_counter()
    for i in range(0, len(records), 500):
        resp = kinesis.put_records(StreamName=stream, Records=records[i:i + 500])
        assert resp.get("FailedRecordCount", 0) == 0
    return len(events) / (time.perf_counter() - start)


def fsync_append_ms(events: list[dict[str, Any]], path: Path) -> list[float]:
    """Latency of the cheapest durable write of each event: append + fsync."""
    out = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for event in events:
            start = time.perf_counter()
            os.write(fd, json.dumps(event).encode() + b"\n")
            os.fsync(fd)
            out.append((time.perf_counter() - start) * 1000)
    finally:
        os.close(fd)
    return out


def through_outbox(endpoint: str, stream: str, events: list[dict[str, Any]],
                   workdir: Path) -> tuple[float, list[float]]:
    """(events/s from first emit to empty outbox, emit latencies in ms)."""
    aws = AwsParams(region=REGION, endpoint_url=endpoint)
    publisher = KinesisPublisher(KinesisParams(stream, aws=aws))
    outbox, loop = open_outbox(workdir / "outbox.sqlite", [publisher],
                                   OutboxParams(workdir / "outbox.sqlite", max_events=10**7),
                                   LoopParams(idle_s=0.05))
    latencies = []
    loop.start()
    start = time.perf_counter()
    for event in events:
        t0 = time.perf_counter()
        outbox.emit(event)
        latencies.append((time.perf_counter() - t0) * 1000)
    deadline = time.monotonic() + 600
    while outbox.depth() and time.monotonic() < deadline:
        time.sleep(0.005)
    elapsed = time.perf_counter() - start
    loop.stop()
    outbox.close()
    return len(events) / elapsed, latencies


def drain_rate(publisher: Any, events: list[dict[str, Any]], workdir: Path) -> float:
    """Events/s from the first emit to an empty outbox through ``publisher``."""
    path = workdir / f"outbox-{uuid.uuid4().hex[:6]}.sqlite3"
    outbox, loop = open_outbox(path, [publisher], OutboxParams(path, max_events=10**7),
                                   LoopParams(idle_s=0.05))
    loop.start()
    start = time.perf_counter()
    for event in events:
        outbox.emit(event)
    while outbox.depth():
        time.sleep(0.005)
    elapsed = time.perf_counter() - start
    loop.stop()
    outbox.close()
    return len(events) / elapsed


def mqtt_figures(count: int, workdir: Path) -> dict[str, Any]:
    """Outbox + MqttPublisher vs a bare paho client, to one mosquitto, same events."""
    import paho.mqtt.client as mqtt

    from kvs_pool.publish import MqttParams, MqttPublisher
    from tests.publish.mqttworld import Broker, Subscriber
    (workdir / "broker").mkdir()
    broker = Broker(workdir / "broker").start()
    try:
        sub = Subscriber(broker, ["bench/events", "bare/events"])
        bare = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bare")
        bare.connect("127.0.0.1", broker.port)
        bare.loop_start()
        bare_events = make_events(count)
        start = time.perf_counter()
        infos = [bare.publish("bare/events", json.dumps(e, separators=(",", ":"),
                                                         sort_keys=True), qos=1)
                 for e in bare_events]
        for info in infos:
            info.wait_for_publish(60)
        bare_eps = count / (time.perf_counter() - start)
        bare.disconnect()
        bare.loop_stop()
        publisher = MqttPublisher(MqttParams(host="127.0.0.1", port=broker.port,
                                             topic_prefix="bench"))
        assert publisher.wait_connected(30), "the MQTT publisher could not connect"
        events = make_events(count)
        eps = drain_rate(publisher, events, workdir)
        time.sleep(1.0)
        got = {json.loads(p)["event_id"] for p in sub.on("bench/events")}
        sub.close()
    finally:
        broker.stop()
    lost = len({e["event_id"] for e in events} - got)
    return {"events_per_s": round(eps, 1), "bare_events_per_s": round(bare_eps, 1),
            "ratio_vs_bare": round(eps / bare_eps, 3), "lost_events": lost}


class _Sink(http.server.ThreadingHTTPServer):
    """Answers 200 to every POST and keeps the event ids."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SinkHandler)
        self.ids: set[str] = set()
        threading.Thread(target=self.serve_forever, daemon=True).start()


class _SinkHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.ids.add(json.loads(body)["event_id"])   # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def webhook_figures(count: int, workdir: Path) -> dict[str, Any]:
    """Outbox + WebhookPublisher (signed) vs bare urllib POSTs, to one local HTTP server."""
    from kvs_pool.publish import WebhookParams, WebhookPublisher
    sink = _Sink()
    url = f"http://127.0.0.1:{sink.server_address[1]}/hook"
    try:
        start = time.perf_counter()
        for event in make_events(count):
            body = json.dumps(event, separators=(",", ":"), sort_keys=True).encode()
            request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
            urllib.request.urlopen(request, timeout=10).close()
        bare_eps = count / (time.perf_counter() - start)
        os.environ["BENCH_HOOK_KEY"] = "bench-key"
        events = make_events(count)
        eps = drain_rate(WebhookPublisher(WebhookParams(url, secret_env="BENCH_HOOK_KEY")),
                         events, workdir)
    finally:
        sink.shutdown()
        sink.server_close()
    lost = len({e["event_id"] for e in events} - sink.ids)
    return {"events_per_s": round(eps, 1), "bare_events_per_s": round(bare_eps, 1),
            "ratio_vs_bare": round(eps / bare_eps, 3), "lost_events": lost}


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer events (well under 50 s)")
    parser.add_argument("--events", type=int, default=None)
    args = parser.parse_args()
    count = args.events or (1500 if args.quick else 10000)
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION}.items():
        os.environ.setdefault(key, value)
    endpoint = start_moto()
    kinesis = boto3.client("kinesis", region_name=REGION, endpoint_url=endpoint)

    bare_stream = create_stream(kinesis)
    bare_eps = bare_put_records(kinesis, bare_stream, make_events(count))
    stream = create_stream(kinesis)
    events = make_events(count)
    with tempfile.TemporaryDirectory() as tmp:
        eps, latencies = through_outbox(endpoint, stream, events, Path(tmp))
        baseline_ms = fsync_append_ms(make_events(min(count, 1000)), Path(tmp) / "plain.jsonl")
        small = min(count, 2000)   # one POST / PUBACK per event: fewer events suffice
        mqtt = mqtt_figures(small, Path(tmp))
        webhook = webhook_figures(small, Path(tmp))
    lost = len({e["event_id"] for e in events} - read_ids(kinesis, stream))

    p50, p99 = pct(latencies, 50), pct(latencies, 99)
    b50, b99 = pct(baseline_ms, 50), pct(baseline_ms, 99)
    print(f"events: {count}")
    print(f"outbox + KDS publisher: {eps:9.0f} events/s   bare put_records: {bare_eps:9.0f}"
          f" events/s   ratio {eps / bare_eps:.2f}")
    print(f"outbox write p50: {p50:7.3f} ms   fsync append p50: {b50:7.3f} ms"
          f"   ratio {p50 / b50:.2f}")
    print(f"outbox write p99: {p99:7.3f} ms   fsync append p99: {b99:7.3f} ms"
          f"   ratio {p99 / b99:.2f}")
    print(f"lost events: {lost}")
    for name, row in (("MQTT (mosquitto)", mqtt), ("webhook (local HTTP)", webhook)):
        print(f"outbox + {name}: {row['events_per_s']:9.0f} events/s   bare client: "
              f"{row['bare_events_per_s']:9.0f} events/s   ratio {row['ratio_vs_bare']:.2f}"
              f"   lost {row['lost_events']}")
    print(json.dumps({
        "events": count, "events_per_s": round(eps, 1), "bare_put_records_events_per_s":
        round(bare_eps, 1), "ratio_vs_bare": round(eps / bare_eps, 3),
        "outbox_write_ms_p50": round(p50, 3), "outbox_write_ms_p99": round(p99, 3),
        "fsync_append_ms_p50": round(b50, 3), "fsync_append_ms_p99": round(b99, 3),
        "lost_events": lost, "mqtt": mqtt, "webhook": webhook}))


if __name__ == "__main__":
    main()
