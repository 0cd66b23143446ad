"""The configs shipped in configs/: the demo loads as is, the site example only lacks files
that exist on its target host."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kvs_pool.config import (
    ConfigError,
    JsonlPublisherConfig,
    MotionDetectorConfig,
    YoloDetectorConfig,
    load_config,
)

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_demo_needs_no_aws_and_points_every_camera_at_the_emulator(tmp_path: Path) -> None:
    config = load_config(CONFIGS / "demo.yaml", base_dir=str(tmp_path))
    assert config.pool.name == "demo"
    assert config.emulator.enabled and config.emulator.endpoint_url == "http://127.0.0.1:4567"
    assert (config.pool.metrics.host, config.pool.metrics.port) == ("127.0.0.1", 9108)
    served = {stream.name for stream in config.emulator.streams}
    assert 2 <= len(config.cameras) <= 3
    for camera in config.cameras:
        kvs = camera.source.kvs
        assert kvs is not None and kvs.stream_name in served
        assert (kvs.endpoint_url, kvs.region) == ("http://127.0.0.1:4567", "us-east-1")
        assert camera.target_fps is not None and camera.target_fps <= 10
    for pipe in config.pipelines:
        assert isinstance(pipe.detector, MotionDetectorConfig)
        for publisher in pipe.publishers:
            assert isinstance(publisher, JsonlPublisherConfig)
            assert publisher.path.startswith(str(tmp_path / "var" / "demo") + os.sep)
    assert config.pool.state_dir == str(tmp_path / "var" / "demo")


def test_site_example_is_valid_apart_from_host_only_files() -> None:
    config = load_config(CONFIGS / "site.yaml", check_files=False)
    kinds = [camera.source.kind for camera in config.cameras]
    assert kinds.count("kvs") >= 2 and "url" in kinds
    yolo = [pipe for pipe in config.pipelines if isinstance(pipe.detector, YoloDetectorConfig)]
    assert yolo and any(pipe.roi for pipe in yolo)
    publisher_types = {pub.type for pipe in config.pipelines for pub in pipe.publishers}
    assert {"kinesis", "s3", "dynamodb"} <= publisher_types
    assert {"mqtt", "webhook"} <= publisher_types
    rtsp = [c.source for c in config.cameras if c.source.password_env]
    assert rtsp and rtsp[0].username and rtsp[0].url and "@" not in rtsp[0].url
    with pytest.raises(ConfigError) as caught:
        load_config(CONFIGS / "site.yaml")
    assert caught.value.problems
    assert all(": file not found: " in problem for problem in caught.value.problems)
