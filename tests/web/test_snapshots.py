"""Event snapshots: an event whose S3 publisher stored a snapshot gets a ``snapshot_url`` and
the JPEG is read back from S3 (moto's server on loopback) with the publisher's own settings;
only buckets of the config are read; failures are JSON naming the URI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import cv2
import pytest
import yaml
from awsworld import REGION, LocalMoto
from ringpool import RingPool, Served, pattern

from kvs_pool.config import load_config
from kvs_pool.web.events import jsonl_paths
from kvs_pool.web.snapshots import SnapshotStore

BUCKET = "snaps"


@pytest.fixture
def with_s3(ring_pool: RingPool, moto: LocalMoto, tmp_path: Path) -> Iterator[Served]:
    doc = {"pool": {"name": ring_pool.pool, "state_dir": str(tmp_path / "state")},
           "cameras": [{"id": "front", "source": {"url": "rtsp://127.0.0.1:9/x"}}],
           "pipelines": [{"name": "people", "cameras": ["front"], "detector": {"type": "motion"},
                          "publishers": [{"type": "s3", "bucket": BUCKET, "region": REGION,
                                          "endpoint_url": moto.endpoint},
                                         {"type": "jsonl", "path": str(tmp_path / "ev.jsonl")}]}]}
    (tmp_path / "pool.yaml").write_text(yaml.safe_dump(doc))
    config = load_config(str(tmp_path / "pool.yaml"), check_files=False)
    server = Served(ring_pool, jsonl_paths(config), snapshots=SnapshotStore(lambda: config))
    try:
        yield server
    finally:
        server.stop()


def _event(n: int, uri: str | None) -> dict:
    return {"event_id": f"e{n}", "type": "start", "camera_id": "front", "detected_ts": n,
            "snapshot_uri": uri}


def test_snapshots_come_from_the_publishers_bucket(with_s3: Served, moto: LocalMoto,
                                                   tmp_path: Path) -> None:
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto.endpoint)
    s3.create_bucket(Bucket=BUCKET)
    jpeg = cv2.imencode(".jpg", pattern(7))[1].tobytes()
    s3.put_object(Bucket=BUCKET, Key="events/front/e1.jpg", Body=jpeg)
    events = [_event(1, f"s3://{BUCKET}/events/front/e1.jpg"), _event(2, None),
              _event(3, "s3://someone-elses/secret.jpg"), _event(4, f"s3://{BUCKET}/gone.jpg")]
    (tmp_path / "ev.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))

    code, doc = with_s3.json("/api/events")
    urls = {e["event_id"]: e.get("snapshot_url") for e in doc["events"]}
    assert urls["e1"] == "/api/events/e1/snapshot.jpg" and urls["e2"] is None

    code, headers, body = with_s3.get(urls["e1"])
    assert (code, headers["Content-Type"], body) == (200, "image/jpeg", jpeg)
    s3.delete_object(Bucket=BUCKET, Key="events/front/e1.jpg")
    assert with_s3.get(urls["e1"])[2] == jpeg             # kept: no S3 request per page load

    code, doc = with_s3.json("/api/events/e3/snapshot.jpg")
    assert code == 502 and "not in a bucket this pool publishes to" in doc["error"]
    code, doc = with_s3.json("/api/events/e4/snapshot.jpg")
    assert code == 502 and doc["error"].startswith(f"s3://{BUCKET}/gone.jpg: NoSuchKey")
    for missing in ("e2", "nope"):
        code, doc = with_s3.json(f"/api/events/{missing}/snapshot.jpg")
        assert code == 404 and "with a snapshot" in doc["error"]
