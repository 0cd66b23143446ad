"""One port for everything (moto passthrough) and the ``kvs-pool emulate`` command."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from emu_world import SPEC, fetch

from kvs_pool.cli.emulate import parse_stream
from kvs_pool.emulator import EmulatorConfig, EmulatorServer
from kvs_pool.errors import ConfigError


@pytest.fixture
def emu_moto() -> Iterator[EmulatorServer]:
    pytest.importorskip("moto.moto_server.werkzeug_app")
    with EmulatorServer(EmulatorConfig(streams=(SPEC,), moto=True)) as server:
        yield server


def test_moto_serves_kinesis_s3_dynamodb_beside_kvs(emu_moto: EmulatorServer) -> None:
    url, region = emu_moto.base_url, "us-east-1"
    kinesis = boto3.client("kinesis", endpoint_url=url, region_name=region)
    kinesis.create_stream(StreamName="events", ShardCount=1)
    assert kinesis.put_record(StreamName="events", Data=b"e", PartitionKey="cam")["ShardId"]
    s3 = boto3.client("s3", endpoint_url=url, region_name=region)
    s3.create_bucket(Bucket="snaps")
    s3.put_object(Bucket="snaps", Key="2026/a.jpg", Body=b"\xff" * 500)
    assert s3.head_object(Bucket="snaps", Key="2026/a.jpg")["ContentLength"] == 500
    assert s3.get_object(Bucket="snaps", Key="2026/a.jpg")["Body"].read() == b"\xff" * 500
    kvs = boto3.client("kinesisvideo", endpoint_url=url, region_name=region)
    assert kvs.list_streams()["StreamInfoList"][0]["StreamName"] == SPEC.name


def test_parse_stream() -> None:
    spec = parse_stream("cam-2=1280x720@15/30")
    assert (spec.name, spec.width, spec.height, spec.fps, spec.gop) == ("cam-2", 1280, 720, 15.0, 30)
    assert parse_stream("x=320x180").gop == 50 and parse_stream("y").width == 640
    with pytest.raises(ConfigError, match="--stream 'bad name'"):
        parse_stream("bad name")


def test_emulate_command_serves_until_sigterm() -> None:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "emulator", "AWS_SECRET_ACCESS_KEY": "emulator"}
    proc = subprocess.Popen([sys.executable, "-m", "kvs_pool", "emulate", "--port", "0",
                             "--stream", "cli-cam=320x180@10/5", "--session-seconds", "30"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        url = re.search(r"on (http://127\.0\.0\.1:\d+)", banner)
        assert url, banner
        kvs = boto3.client("kinesisvideo", endpoint_url=url[1], region_name="us-east-1")
        assert kvs.describe_stream(StreamName="cli-cam")["StreamInfo"]["StreamName"] == "cli-cam"
        assert fetch(f"{url[1]}/_emulator/state")[0] == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_emulate_command_rejects_a_bad_stream() -> None:
    done = subprocess.run([sys.executable, "-m", "kvs_pool", "emulate", "--stream", "a b"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "--stream 'a b'" in done.stderr
    assert "Traceback" not in done.stderr


def test_emulate_takes_streams_from_a_pool_config(tmp_path: Path) -> None:
    from kvs_pool.cli import build_parser
    from kvs_pool.cli.emulate import _config

    path = tmp_path / "pool.yaml"
    path.write_text("pool: {name: p}\n"
                    "emulator:\n  enabled: true\n  port: 4999\n  streams:\n"
                    "    - {name: yard, width: 320, height: 180, fps: 10, gop: 20}\n"
                    "cameras:\n  - id: yard\n    source: {kvs: {stream_name: yard, "
                    "endpoint_url: 'http://127.0.0.1:4999'}}\n")
    config = _config(build_parser().parse_args(["emulate", "--config", str(path)]))
    assert config.port == 4999 and [(s.name, s.width, s.gop) for s in config.streams] == [
        ("yard", 320, 20)]
    config = _config(build_parser().parse_args(["emulate", "--config", str(path), "--port", "0",
                                                "--stream", "x=64x64@5/5"]))
    assert config.port == 0 and [s.name for s in config.streams] == ["x"]
