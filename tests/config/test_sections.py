"""The rules of each section: names, regions, URLs, ranges, ROI, confirmation, publishers."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
import yaml

from kvs_pool.config import (
    ConfigError,
    DynamoDBPublisherConfig,
    JsonlPublisherConfig,
    KinesisPublisherConfig,
    LogPublisherConfig,
    MotionDetectorConfig,
    PoolConfig,
    S3PublisherConfig,
    YoloDetectorConfig,
    parse_config,
)

BASE: dict[str, Any] = {
    "pool": {"name": "p1"},
    "cameras": [{"id": "cam-1", "source": {"kvs": {"stream_name": "s1", "region": "eu-west-1"}}},
                {"id": "cam-2", "source": {"url": "rtsp://host/x"}}],
    "pipelines": [{"name": "pipe", "cameras": ["cam-1", "cam-2"]}],
}


def with_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """BASE with dotted-path keys set (``cameras[0].target_fps``)."""
    data = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        parts = [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", dotted)]
        node = data
        for part in parts[:-1]:
            node = node[part] if isinstance(part, int) or part in node else node.setdefault(part, {})
        node[parts[-1]] = value
    return data


def load(changes: dict[str, Any]) -> PoolConfig:
    return parse_config(yaml.safe_dump(with_changes(changes), sort_keys=False), "c.yaml", check_files=False)


def reasons(changes: dict[str, Any]) -> list[str]:
    """The problems as ``key: reason`` without the file name and line."""
    with pytest.raises(ConfigError) as caught:
        load(changes)
    return [re.sub(r"^c\.yaml:| \(line \d+\)$", "", p) for p in caught.value.problems]


def test_base_is_valid() -> None:
    config = load({})
    assert config.camera_ids == ("cam-1", "cam-2")
    assert isinstance(config.pipelines[0].detector, MotionDetectorConfig)


@pytest.mark.parametrize("name", ["", "-a", "a.b", "a b", "x" * 49, "ä"])
def test_names_that_cannot_be_shared_memory_names(name: str) -> None:
    got = reasons({"pool.name": name, "cameras[1].id": name})
    assert len(got) == 2 and got[0].startswith("pool.name: ") and got[1].startswith("cameras[1].id: ")
    assert "is not a valid name" in got[0]


@pytest.mark.parametrize("name", ["a", "A9", "front_door-2", "x" * 48])
def test_valid_names(name: str) -> None:
    assert load({"pool.name": name}).pool.name == name


@pytest.mark.parametrize(("source", "reason"), [
    ({}, "cameras[0].source: set exactly one of 'kvs' (a Kinesis Video stream) or 'url'"),
    ({"kvs": "s", "url": "rtsp://h/x"},
     "cameras[0].source: set exactly one of 'kvs' (a Kinesis Video stream) or 'url'"),
    ({"url": "ftp://h/x"}, "cameras[0].source.url: not an rtsp/http(s)/file URL (scheme 'ftp')"),
    ({"url": "rtsp:///x"}, "cameras[0].source.url: 'rtsp:///x' has no host"),
    ({"kvs": {"stream_name": "s", "region": "Europe"}},
     "cameras[0].source.kvs.region: 'Europe' is not an AWS region name like us-east-1"),
    ({"kvs": {"stream_name": "s", "endpoint_url": "localhost:4567"}},
     "cameras[0].source.kvs.endpoint_url: 'localhost:4567' is not a http/https URL with a host"),
    ({"kvs": {"stream_name": "s", "hls_session_seconds": 200}},
     "cameras[0].source.kvs.hls_session_seconds: must be between 300 and 43200 (got 200)"),
    ({"kvs": {"stream_name": "s", "refresh_margin_s": 300}},
     "cameras[0].source.kvs.refresh_margin_s: must be less than hls_session_seconds (300 >= 300)"),
    ({"kvs": {"stream_name": "bad name"}},
     "cameras[0].source.kvs.stream_name: 'bad name' is not a KVS stream name"),
])
def test_bad_sources(source: dict[str, Any], reason: str) -> None:
    assert reasons({"cameras[0].source": source}) == [reason]


@pytest.mark.parametrize("url", ["rtsp://u:p@10.0.0.1:554/s", "rtsps://h/s", "http://h/x.m3u8",
                                 "https://h/live/index.m3u8"])
def test_good_urls(url: str) -> None:
    assert load({"cameras[1].source": {"url": url}}).cameras[1].source.url == url


@pytest.mark.parametrize(("key", "value", "reason"), [
    ("target_fps", 0, "must be greater than 0 (got 0)"),
    ("ring_slots", 257, "must be between 2 and 256 (got 257)"),
    ("max_resolution", [8, 8], "must be within [16, 16] .. [7680, 4320] (got [8, 8])"),
    ("max_resolution", [1920], "expected a list of 2 items, got 1"),
    ("max_consecutive_errors", 0, "must be at least 1 (got 0)"),
    ("stall", {"heartbeat_timeout_s": 0}, None),
    ("backoff", {"initial_s": 90, "max_s": 60}, None),
])
def test_camera_ranges(key: str, value: Any, reason: str | None) -> None:
    got = reasons({f"cameras[0].{key}": value})
    assert len(got) == 1 and got[0].startswith(f"cameras[0].{key}")
    if reason:
        assert got == [f"cameras[0].{key}: {reason}"]


def test_max_resolution_height_bound() -> None:
    assert reasons({"defaults.max_resolution": [7680, 5000]}) == [
        "defaults.max_resolution: must be within [16, 16] .. [7680, 4320] (got [7680, 5000])"]


def test_backoff_rules() -> None:
    assert reasons({"defaults.backoff": {"jitter": [1.2, 0.8], "factor": 0.5}}) == [
        "defaults.backoff.factor: must be at least 1 (got 0.5)",
    ]
    assert reasons({"defaults.backoff": {"jitter": [1.2, 0.8]}}) == [
        "defaults.backoff.jitter: low must not exceed high (got [1.2, 0.8])"]


def test_frame_timeout_scales_with_fps() -> None:
    config = load({"cameras[0].target_fps": 0.1, "cameras[1].target_fps": 25})
    assert config.cameras[0].frame_timeout_s == pytest.approx(50.0)
    assert config.cameras[1].frame_timeout_s == pytest.approx(15.0)
    config = load({"defaults.stall": {"frame_timeout_s": 7}})
    assert config.cameras[0].frame_timeout_s == 7


def test_metrics_port_range() -> None:
    assert reasons({"pool.metrics": {"port": 70000}}) == [
        "pool.metrics.port: must be between 0 and 65535 (got 70000)"]


def test_yolo_detector_settings() -> None:
    config = load({"pipelines[0].detector": {"type": "yolo", "model": "m.onnx",
                                             "classes": ["person", 2], "input_size": 320}})
    detector = config.pipelines[0].detector
    assert isinstance(detector, YoloDetectorConfig)
    assert detector.classes == ("person", 2) and detector.input_size == 320
    assert detector.model.endswith("/m.onnx")
    assert load({"pipelines[0].detector": {"type": "yolo"}}).pipelines[0].detector.model == \
        "yolov3-tiny"
    got = reasons({"pipelines[0].detector": {"type": "yolo", "input_size": 300, "classes": [-1],
                                             "confidence": 1.5, "layout": "v7", "threads": 0}})
    assert got == [
        "pipelines[0].detector.input_size: must be a multiple of 32 between 32 and 2048 (got 300)",
        "pipelines[0].detector.confidence: must be between 0 and 1 (got 1.5)",
        "pipelines[0].detector.layout: must be one of: auto, v5, v8 (got string 'v7')",
        "pipelines[0].detector.threads: must be between 1 and 64 (got 0)",
    ]
    assert reasons({"pipelines[0].detector": {"type": "sift"}}) == [
        "pipelines[0].detector.type: must be one of: motion, yolo (got string 'sift')"]


def test_roi_rules() -> None:
    zone = {"name": "z", "points": [[0, 0], [1, 0], [1, 1]]}
    config = load({"pipelines[0].roi": {"cam-1": [zone]}})
    assert config.pipelines[0].zones("cam-1")[0].anchor == "bottom_center"
    assert config.pipelines[0].zones("cam-2") == ()
    got = reasons({"pipelines[0].roi": {
        "cam-1": [{"name": "a", "points": [[0, 0], [2, 0], [1, 1]]},
                  {"name": "a", "points": [[0, 0], [1, 1]], "min_area": 5, "max_area": 1}],
        "gate": [zone]}})
    assert got == [
        "pipelines[0].roi.cam-1[0].points[1]: coordinates must be between 0 and 1 "
        "(coords: normalized) (got [2, 0])",
        "pipelines[0].roi.cam-1[1].name: duplicate zone name 'a'",
        "pipelines[0].roi.cam-1[1].points: a polygon needs at least 3 points (got 2)",
        "pipelines[0].roi.cam-1[1].min_area: must not exceed max_area (5 > 1)",
        "pipelines[0].roi.gate: camera 'gate' is not in this pipeline's cameras",
    ]
    pixels = {"name": "p", "coords": "pixels", "points": [[0, 0], [1920, 0], [0, 1080]]}
    assert load({"pipelines[0].roi": {"cam-2": [pixels]}}).pipelines[0].zones("cam-2")
    flat = {"name": "f", "points": [[0, 0], [0.5, 0.5], [1, 1]]}
    assert reasons({"pipelines[0].roi": {"cam-2": [flat]}}) == [
        "pipelines[0].roi.cam-2[0].points: the polygon has no area (points on one line)"]


def test_confirm_rules() -> None:
    assert reasons({"pipelines[0].confirm": {"hits": 6, "window": 5}}) == [
        "pipelines[0].confirm.hits: must not exceed window (6 > 5)"]
    assert reasons({"pipelines[0].confirm": {"mode": "mean"}}) == [
        "pipelines[0].confirm.mode: must be one of: hits, median (got string 'mean')"]


def test_publishers_discriminated_by_type() -> None:
    config = load({"aws": {"region": "us-west-2"}, "pipelines[0].publishers": [
        {"type": "kinesis", "stream_name": "ev"}, {"type": "s3", "bucket": "snap-bucket"},
        {"type": "dynamodb", "table": "events", "ttl_days": 30, "region": "eu-west-1"},
        {"type": "jsonl", "path": "/tmp/e.jsonl"}, {"type": "log"}]})
    kinds = [type(p) for p in config.pipelines[0].publishers]
    assert kinds == [KinesisPublisherConfig, S3PublisherConfig, DynamoDBPublisherConfig,
                     JsonlPublisherConfig, LogPublisherConfig]
    regions = [getattr(p, "region", None) for p in config.pipelines[0].publishers]
    assert regions == ["us-west-2", "us-west-2", "eu-west-1", None, None]
    got = reasons({"pipelines[0].publishers": [
        {"type": "kinesis", "stream_name": "ev", "batch_size": 501},
        {"type": "s3", "bucket": "Bad_Bucket"}, {"type": "dynamodb"}, {"stream_name": "x"}]})
    assert got == [
        "pipelines[0].publishers[0].batch_size: must be between 1 and 500 (got 501)",
        "pipelines[0].publishers[1].bucket: 'Bad_Bucket' is not an S3 bucket name",
        "pipelines[0].publishers[2].table: required key is missing",
        "pipelines[0].publishers[3]: expected a mapping with a 'type' key "
        "(one of: kinesis, s3, dynamodb, jsonl, log, mqtt, webhook)",
    ]


def test_pipeline_names_and_cameras() -> None:
    got = reasons({"pipelines": [{"name": "a", "cameras": ["cam-1", "cam-1"]},
                                 {"name": "a", "cameras": []}]})
    assert got == [
        "pipelines[0].cameras[1]: camera 'cam-1' listed twice",
        "pipelines[1].name: duplicate name 'a' (also pipelines[0])",
        "pipelines[1].cameras: must not be empty",
    ]


def test_emulator_streams_must_exist_for_cameras_pointing_at_it() -> None:
    emulator = {"enabled": True, "port": 4567, "streams": [{"name": "s1"}, {"name": "s1"}]}
    got = reasons({"emulator": emulator})
    assert got == ["emulator.streams[1].name: duplicate name 's1' (also emulator.streams[0])"]
    emulator["streams"] = [{"name": "other"}]
    source = {"kvs": {"stream_name": "s1", "endpoint_url": "http://127.0.0.1:4567"}}
    assert reasons({"emulator": emulator, "cameras[0].source": source}) == [
        "cameras[0].source.kvs.stream_name: the emulator serves no stream 's1' "
        "(emulator.streams: other)"]
    assert reasons({"emulator": {"enabled": True}}) == [
        "emulator.streams: an enabled emulator needs at least one stream"]
    config = load({"emulator": {"enabled": True, "streams": [{"name": "s1"}]}})
    assert config.emulator.endpoint_url == "http://127.0.0.1:4567"


def test_emulator_still_share_must_be_shorter_than_the_clip() -> None:
    emulator = {"enabled": True, "port": 4567,
                "streams": [{"name": "s1", "seconds": 10, "still_s": 10}]}
    assert reasons({"emulator": emulator}) == [
        "emulator.streams[0].still_s: must be less than seconds (10 >= 10)"]


@pytest.mark.parametrize(("source", "reason"), [
    ({"url": "rtsp://h/x", "transport": "sctp"}, "transport: must be one of: tcp, udp"),
    ({"url": "http://h/x.m3u8", "transport": "udp"},
     "transport: applies to rtsp:// and rtsps:// URLs only"),
    ({"url": "rtsp://h/x", "password_env": "PW"}, "username: a password needs a username"),
    ({"url": "rtsp://h/x", "username": "u", "password_env": "PW", "password_file": "/pw"},
     "password_env: set password_env or password_file, not both"),
    ({"url": "rtsp://h/x", "username": "u", "password_env": "not a var"},
     "password_env: 'not a var' is not an environment variable name"),
])
def test_bad_rtsp_source_settings(source: dict[str, Any], reason: str) -> None:
    got = reasons({"cameras[0].source": source})
    assert len(got) == 1 and got[0].startswith(f"cameras[0].source.{reason.split(':')[0]}:")
    assert reason.split(": ", 1)[1] in got[0]


def test_rtsp_source_settings() -> None:
    source = load({"cameras[0].source": {"url": "rtsp://h/x", "transport": "udp",
                                         "username": "u", "password_env": "CAM_PW"}}
                  ).cameras[0].source
    assert (source.transport, source.username, source.password_env) == ("udp", "u", "CAM_PW")
