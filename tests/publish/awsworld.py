"""Helpers for the publish tests: moto's real HTTP server on 127.0.0.1 that can go down and come
back on the same port with its state, AWS resources per test, read-back helpers, and a
fault-injecting HTTP proxy in front of Kinesis.

The outage is true to a network outage: ``LocalMoto.stop()`` closes the listening socket and
serves no keep-alive connection (HTTP/1.0 handler), so clients get "connection refused"; the
moto backends live on in this process, as AWS's data does while a site is offline.
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from kvs_pool.backoff import BackoffPolicy
from kvs_pool.publish import (
    AwsParams,
    DynamoParams,
    DynamoPublisher,
    KinesisParams,
    KinesisPublisher,
    LoopParams,
    S3Params,
    S3Publisher,
)

REGION = "us-east-1"
FAST_LOOP = LoopParams(backoff=BackoffPolicy(initial_s=0.1, factor=2.0, max_s=1.0,
                                             reset_after_s=0.0), idle_s=0.2)


class _OneShotHandler(WSGIRequestHandler):
    """HTTP/1.0: one request per connection, so a stopped server serves nothing more."""

    protocol_version = "HTTP/1.0"

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class LocalMoto:
    """moto's WSGI app on a werkzeug server; stop/start keeps the port and the data."""

    def __init__(self) -> None:
        self.port = 0
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server("127.0.0.1", self.port, app, threaded=True,
                                   request_handler=_OneShotHandler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(10)
            self._server = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"




@dataclass
class AwsWorld:
    """One stream, bucket and table (unique names) on a moto server, with read-back helpers."""

    server: LocalMoto
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def stream(self) -> str:
        return f"events-{self.suffix}"

    @property
    def bucket(self) -> str:
        return f"snaps-{self.suffix}"

    @property
    def table(self) -> str:
        return f"events-{self.suffix}"

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.server.endpoint)

    def create(self) -> None:
        kinesis = self.client("kinesis")
        kinesis.create_stream(StreamName=self.stream, ShardCount=2)
        kinesis.get_waiter("stream_exists").wait(StreamName=self.stream)
        self.client("s3").create_bucket(Bucket=self.bucket)
        self.client("dynamodb").create_table(
            TableName=self.table, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "camera_id", "AttributeType": "S"},
                                  {"AttributeName": "ts_event", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "camera_id", "KeyType": "HASH"},
                       {"AttributeName": "ts_event", "KeyType": "RANGE"}])

    def aws(self, endpoint: str | None = None) -> AwsParams:
        return AwsParams(region=REGION, endpoint_url=endpoint or self.server.endpoint,
                         max_attempts=2, connect_timeout_s=2.0, read_timeout_s=10.0)

    def publishers(self, kinesis_endpoint: str | None = None, kinesis_batch: int = 500,
                   ttl_days: float | None = 7.0) -> list[Any]:
        return [S3Publisher(S3Params(self.bucket, prefix="snaps", aws=self.aws())),
                KinesisPublisher(KinesisParams(self.stream, aws=self.aws(kinesis_endpoint),
                                               batch_size=kinesis_batch)),
                DynamoPublisher(DynamoParams(self.table, ttl_days=ttl_days, aws=self.aws()))]

    def kinesis_records(self) -> list[dict[str, Any]]:
        """Every record, shard by shard in sequence order: partition key and decoded event."""
        kinesis = self.client("kinesis")
        out: list[dict[str, Any]] = []
        for shard in kinesis.list_shards(StreamName=self.stream)["Shards"]:
            it = kinesis.get_shard_iterator(StreamName=self.stream, ShardId=shard["ShardId"],
                                            ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            while it:
                resp = kinesis.get_records(ShardIterator=it, Limit=10000)
                out += [{"key": r["PartitionKey"], "event": json.loads(r["Data"])}
                        for r in resp["Records"]]
                it = resp.get("NextShardIterator") if resp["Records"] else None
        return out

    def s3_keys(self) -> list[str]:
        pages = self.client("s3").get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def dynamo_items(self) -> list[dict[str, Any]]:
        pages = self.client("dynamodb").get_paginator("scan").paginate(TableName=self.table)
        return [item for page in pages for item in page["Items"]]


class FaultProxy:
    """HTTP proxy to moto for Kinesis that can fail chosen records, throttle, or stall.

    - ``fail_times``: event id -> how many more times its record is removed from the forwarded
      PutRecords and marked ``ProvisionedThroughputExceededException`` in the response.
    - ``throttle_calls``: the next N PutRecords calls get a 400 throttling error.
    - ``hold_s``: after forwarding a PutRecords, wait this long before answering (``in_flight``
      is set meanwhile): the window a kill -9 lands in "mid-batch".
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.fail_times: Counter[str] = Counter()
        self.throttle_calls = 0
        self.hold_s = 0.0
        self.in_flight = threading.Event()
        self.attempts: list[list[str]] = []       # event ids of each PutRecords call received
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def sent_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self.lock:
            for call in self.attempts:
                for event_id in call:
                    counts[event_id] = counts.get(event_id, 0) + 1
        return counts

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, headers, payload = proxy.handle(dict(self.headers), body)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler

    def forward(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=30)
        skip = {"host", "content-length", "connection"}
        conn.request("POST", "/", body=body,
                     headers={k: v for k, v in headers.items() if k.lower() not in skip})
        resp = conn.getresponse()
        payload = resp.read()
        conn.close()
        keep = {k: v for k, v in resp.getheaders()
                if k.lower() not in ("content-length", "connection", "transfer-encoding")}
        return resp.status, keep, payload

    def handle(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        target = headers.get("X-Amz-Target", "")
        if not target.endswith(".PutRecords"):
            return self.forward(headers, body)
        request = json.loads(body)
        ids = [json.loads(base64.b64decode(r["Data"]))["event_id"] for r in request["Records"]]
        with self.lock:
            self.attempts.append(ids)
            if self.throttle_calls > 0:
                self.throttle_calls -= 1
                return _throttled()
            failing = {i for i, event_id in enumerate(ids) if self.fail_times[event_id] > 0}
            for i in failing:
                self.fail_times[ids[i]] -= 1
        return self._put_some(headers, request, failing)

    def _put_some(self, headers: dict[str, str], request: dict[str, Any],
                  failing: set[int]) -> tuple[int, dict[str, str], bytes]:
        records = request["Records"]
        kept = [r for i, r in enumerate(records) if i not in failing]
        upstream: list[dict[str, Any]] = []
        status, out_headers = 200, {"Content-Type": "application/x-amz-json-1.1"}
        if kept:
            status, out_headers, payload = self.forward(
                headers, json.dumps({**request, "Records": kept}).encode())
            if status != 200:
                return status, out_headers, payload
            upstream = json.loads(payload)["Records"]
        if self.hold_s:
            self.in_flight.set()
            time.sleep(self.hold_s)
            self.in_flight.clear()
        merged, it = [], iter(upstream)
        for i in range(len(records)):
            merged.append({"ErrorCode": "ProvisionedThroughputExceededException",
                           "ErrorMessage": "Rate exceeded for shard (injected)"}
                          if i in failing else next(it))
        doc = {"FailedRecordCount": len(failing), "Records": merged}
        return status, out_headers, json.dumps(doc).encode()


def _throttled() -> tuple[int, dict[str, str], bytes]:
    code = "ProvisionedThroughputExceededException"
    return 400, {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code}, \
        json.dumps({"__type": code, "message": "Rate exceeded (injected)"}).encode()




def make_event(camera_id: str, n: int, tag: str = "t", ts: float | None = None) -> dict[str, Any]:
    """A pipeline-shaped event whose id is a function of (tag, camera, n)."""
    ts = time.time() if ts is None else ts
    return {"event_id": uuid.uuid5(uuid.NAMESPACE_URL, f"{tag}/{camera_id}/{n}").hex,
            "type": "start", "camera_id": camera_id, "pipeline": "people", "class": "person",
            "score": 0.87, "box": [10, 20, 110, 220], "roi": "porch", "frame_ts": ts,
            "detected_ts": ts + 0.05, "model": "yolov3-tiny", "n": n}

