"""`kvs-pool check --aws`: read-only calls for every configured AWS resource against the KVS
emulator with moto's Kinesis, S3 and DynamoDB on the same loopback port; one line per resource."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from kvs_pool.emulator import EmulatorConfig, EmulatorServer, StreamSpec

STREAM = StreamSpec(name="aws-check-cam", width=160, height=96, fps=10, gop=10)


@pytest.fixture(scope="module")
def aws() -> Iterator[str]:
    pytest.importorskip("moto.moto_server.werkzeug_app")
    with EmulatorServer(EmulatorConfig(streams=(STREAM,), moto=True)) as server:
        yield server.base_url


def _config(tmp_path: Path, url: str, stream: str, bucket: str, table: str) -> Path:
    path = tmp_path / "pool.yaml"
    path.write_text(f"""
pool: {{name: awscheck, state_dir: {tmp_path / 'state'}}}
aws: {{region: us-east-1, endpoint_url: "{url}"}}
cameras:
  - id: cam
    source: {{kvs: {{stream_name: {stream}}}}}
pipelines:
  - name: p
    cameras: [cam]
    detector: {{type: motion}}
    publishers:
      - {{type: kinesis, stream_name: events-{tmp_path.name[-8:]}}}
      - {{type: s3, bucket: {bucket}}}
      - {{type: dynamodb, table: {table}}}
""")
    return path


def _check(path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_EC2_METADATA_DISABLED": "true"}
    return subprocess.run([sys.executable, "-m", "kvs_pool", "check", "--aws", str(path)],
                          env=env, capture_output=True, text=True, timeout=120)


def _create(url: str, stream: str, bucket: str, table: str) -> None:
    kw = {"endpoint_url": url, "region_name": "us-east-1", "aws_access_key_id": "test",
          "aws_secret_access_key": "test"}
    boto3.client("kinesis", **kw).create_stream(StreamName=stream, ShardCount=1)
    boto3.client("s3", **kw).create_bucket(Bucket=bucket)
    boto3.client("dynamodb", **kw).create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "event_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "event_id", "AttributeType": "S"}])


def test_every_resource_present_and_reachable(aws: str, tmp_path: Path) -> None:
    path = _config(tmp_path, aws, STREAM.name, "snaps-ok", "events-ok")
    _create(aws, f"events-{tmp_path.name[-8:]}", "snaps-ok", "events-ok")
    out = _check(path)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("ok: 1 camera, 1 pipeline")
    assert [line.split()[0] for line in lines[1:]] == ["ok"] * 4, out.stdout
    assert "kinesisvideo stream aws-check-cam (us-east-1): exists" in out.stdout
    assert "dynamodb table events-ok (us-east-1): exists (ACTIVE)" in out.stdout


def test_missing_resources_are_named_one_line_each(aws: str, tmp_path: Path) -> None:
    out = _check(_config(tmp_path, aws, "no-such-stream", "no-such-bucket", "no-such-table"))
    assert out.returncode == 1
    failures = [line for line in out.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failures) == 4, out.stdout
    assert any("kinesisvideo stream no-such-stream" in f and "ResourceNotFound" in f
               for f in failures), failures
    assert any("s3 bucket no-such-bucket" in f and "create the bucket" in f for f in failures)
    assert any("dynamodb table no-such-table" in f for f in failures)
    assert "Traceback" not in out.stdout + out.stderr
