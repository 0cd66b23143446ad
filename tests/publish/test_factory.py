"""Publishers built from typed params: chosen by the params' type, with duplicate destinations
refused; and a worker's publishing opened from a loaded config file (``workers.params``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvs_pool.config import load_config
from kvs_pool.errors import ConfigError
from kvs_pool.publish import (
    AwsParams,
    DynamoParams,
    JsonlParams,
    KinesisParams,
    S3Params,
    build_publisher,
    build_publishers,
    open_publishing,
)
from kvs_pool.workers.params import publishing_params


def test_each_params_type_builds_its_publisher(tmp_path: Path) -> None:
    aws = AwsParams(region="us-east-1", endpoint_url="http://127.0.0.1:9")
    params = [KinesisParams("events", aws=aws), S3Params("snaps", aws=aws),
              DynamoParams("events", ttl_days=30, aws=AwsParams(region="eu-west-1")),
              JsonlParams(tmp_path / "e.jsonl")]
    kinesis, s3, dynamo, jsonl = build_publishers(params)
    assert [p.name for p in (kinesis, s3, dynamo)] == ["kinesis:events", "s3:snaps",
                                                       "dynamodb:events"]
    assert kinesis.client.meta.region_name == "us-east-1"
    assert kinesis.client.meta.endpoint_url == "http://127.0.0.1:9"
    assert dynamo.client.meta.region_name == "eu-west-1"
    assert (s3.stage, kinesis.stage, dynamo.stage, jsonl.stage) == (0, 1, 1, 1)


def test_a_mapping_is_not_params() -> None:
    with pytest.raises(TypeError, match="no publisher takes dict"):
        build_publisher({"type": "kinesis", "stream_name": "a"})  # type: ignore[arg-type]


def test_duplicate_destinations_are_refused() -> None:
    with pytest.raises(ConfigError, match="twice"):
        build_publishers([KinesisParams("a", aws=AwsParams(region="us-east-1"))] * 2)


def test_publishing_from_a_loaded_config_file(tmp_path: Path) -> None:
    (tmp_path / "site.yaml").write_text(f"""
pool: {{name: site1, state_dir: "{tmp_path / 'state'}"}}
aws: {{region: eu-west-1, endpoint_url: "http://127.0.0.1:9"}}
cameras:
  - id: door
    source: {{url: "rtsp://127.0.0.1/door"}}
pipelines:
  - name: people
    cameras: [door]
    detector: {{type: motion}}
    publishers:
      - {{type: s3, bucket: snaps, crop: true, region: us-west-2}}
      - {{type: kinesis, stream_name: events, batch_size: 200}}
      - {{type: dynamodb, table: events, ttl_days: 30}}
      - {{type: log, level: debug}}
outbox: {{max_events: 7, retry: {{initial_s: 2, max_s: 20}}}}
""")
    config = load_config(tmp_path / "site.yaml")
    outbox, loop = open_publishing(
        publishing_params(config, config.pipelines[0].publishers, "people"))
    try:
        assert outbox.path == tmp_path / "state" / "outbox.people.sqlite3"
        assert outbox.params.max_events == 7
        assert loop.params.backoff.initial_s == 2 and loop.params.backoff.max_s == 20
        names = [p.name for p in loop.publishers]
        assert names == ["s3:snaps", "kinesis:events", "dynamodb:events", "log"]
        s3, kinesis = loop.publishers[0], loop.publishers[1]
        assert s3.params.crop and kinesis.batch_size == 200
        assert kinesis.client.meta.region_name == "eu-west-1"
        assert s3.client.meta.region_name == "us-west-2"
        assert kinesis.client.meta.endpoint_url == "http://127.0.0.1:9"
    finally:
        outbox.close()
