"""Publishers built from YAML-shaped config: defaults from the pool's aws section, overrides,
and errors naming the bad entry."""

from __future__ import annotations

import pytest

from kvs_pool.errors import ConfigError
from kvs_pool.publish import build_publishers, publishing_from_config


def test_build_from_yaml_shapes_with_aws_defaults_and_overrides(tmp_path):
    configs = [{"type": "kinesis", "stream_name": "events"},
               {"type": "s3", "bucket": "snaps", "region": "eu-west-1"},
               {"type": "dynamodb", "table": "events", "ttl_days": 30, "retry_mode": "adaptive"},
               {"type": "jsonl", "path": tmp_path / "e.jsonl"}]
    aws = {"region": "us-east-1", "profile": None, "endpoint_url": "http://127.0.0.1:9"}
    kinesis, s3, dynamo, jsonl = build_publishers(configs, aws)
    assert [p.name for p in (kinesis, s3, dynamo)] == ["kinesis:events", "s3:snaps",
                                                       "dynamodb:events"]
    assert kinesis.client.meta.region_name == "us-east-1"
    assert kinesis.client.meta.endpoint_url == "http://127.0.0.1:9"
    assert s3.client.meta.region_name == "eu-west-1"
    assert dynamo.params.aws.retry_mode == "adaptive" and dynamo.params.ttl_days == 30
    assert (s3.stage, kinesis.stage, dynamo.stage, jsonl.stage) == (0, 1, 1, 1)


@pytest.mark.parametrize("config, needle", [
    ({"type": "sqs", "queue": "q"}, "publishers[0].type"),
    ({"type": "kinesis", "stream_name": "s", "shards": 2}, "publishers[0].shards"),
    ({"type": "s3"}, "publishers[0]"),
])
def test_bad_entries_name_the_key(config, needle):
    with pytest.raises(ConfigError) as info:
        build_publishers([config])
    assert needle in str(info.value)


def test_duplicate_destinations_are_refused():
    with pytest.raises(ConfigError, match="twice"):
        build_publishers([{"type": "kinesis", "stream_name": "a", "region": "us-east-1"}] * 2)


def test_publishing_from_a_loaded_config_file(tmp_path):
    load_config = pytest.importorskip("kvs_pool.config").load_config
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
      - {{type: s3, bucket: snaps, crop: true}}
      - {{type: kinesis, stream_name: events, batch_size: 200}}
      - {{type: dynamodb, table: events, ttl_days: 30}}
      - {{type: log, level: debug}}
outbox: {{max_events: 7, retry: {{initial_s: 2, max_s: 20}}}}
""")
    config = load_config(tmp_path / "site.yaml")
    outbox, loop = publishing_from_config(config, config.pipelines[0].publishers, "people")
    try:
        assert outbox.path == tmp_path / "state" / "outbox.people.sqlite3"
        assert outbox.params.max_events == 7
        assert loop.params.backoff.initial_s == 2 and loop.params.backoff.max_s == 20
        names = [p.name for p in loop.publishers]
        assert names == ["s3:snaps", "kinesis:events", "dynamodb:events", "log"]
        s3, kinesis = loop.publishers[0], loop.publishers[1]
        assert s3.params.crop and kinesis.batch_size == 200
        assert kinesis.client.meta.region_name == "eu-west-1"
    finally:
        outbox.close()
