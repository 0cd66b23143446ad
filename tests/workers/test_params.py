"""Config -> runtime parameters: every setting a user writes in YAML reaches its consumer.

``CONFIG`` gives every field of every pipeline section a value other than its default,
``PUBLISHERS`` every field of every publisher config, ``CAMERAS`` every camera and source field
that reaches a source's options. The tests
fail when a config field (or a whole new section) is neither mapped in ``ARRIVES_AS`` nor listed
in ``params.CONSUMED_ELSEWHERE``, when a value does not arrive where the table says, and
when the YAML stops covering a field with a non-default value.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

import pytest

from kvs_pool.config import (
    AwsConfig,
    CameraConfig,
    ConfirmConfig,
    DynamoDBPublisherConfig,
    JsonlPublisherConfig,
    KinesisPublisherConfig,
    KvsSource,
    LogPublisherConfig,
    MotionDetectorConfig,
    MotionGateConfig,
    MqttPublisherConfig,
    PipelineConfig,
    PublisherConfig,
    RoiZone,
    S3PublisherConfig,
    SourceConfig,
    WebhookPublisherConfig,
    YoloDetectorConfig,
    load_config,
)
from kvs_pool.pipeline import Detection, RoiFilter
from kvs_pool.publish import KinesisParams
from kvs_pool.workers.params import (
    CONSUMED_ELSEWHERE,
    camera_setups,
    camera_url,
    gate_params,
    kvs_source_options,
    motion_params,
    publisher_params,
    url_source_options,
    yolo_params,
)

# config section -> {config field: attribute of the pipeline parameter object it becomes}
ARRIVES_AS: dict[type, dict[str, str]] = {
    YoloDetectorConfig: {
        "model": "model", "input_size": "input_size", "classes": "classes",
        "confidence": "confidence", "nms_iou": "nms_iou", "threads": "threads",
        "class_names": "class_names", "layout": "layout", "max_detections": "max_detections",
        "cache_dir": "cache_dir",
    },
    MotionDetectorConfig: {"min_area": "min_area", "label": "label"},
    MotionGateConfig: {
        "enabled": "enabled", "downscale_width": "downscale_width", "threshold": "threshold",
        "min_area": "min_area", "history": "history", "refresh_s": "refresh_s",
    },
    RoiZone: {
        "name": "name", "points": "points", "mode": "mode", "coords": "coords",
        "anchor": "anchor", "min_area": "min_area", "max_area": "max_area",
    },
    ConfirmConfig: {
        "hits": "hits", "window": "window", "cooldown_s": "cooldown_s", "mode": "mode",
        "score_threshold": "score_threshold", "end_after_s": "end_after_s", "per_roi": "per_roi",
    },
    # checked one by one in test_pipeline_level_fields_shape_the_camera_setups
    PipelineConfig: {f: "" for f in ("cameras", "motion_gate", "detector", "roi", "confirm")},
}

CONFIG = """
pool: {{name: p1, state_dir: {tmp}/state}}
cameras:
  - {{id: cam1, source: {{url: {tmp}/clip.mp4}}}}
  - {{id: cam2, source: {{url: {tmp}/clip.mp4}}}}
pipelines:
  - name: people
    cameras: [cam1, cam2]
    max_fps: 4
    motion_gate: {{downscale_width: 160, threshold: 25, min_area: 0.002, history: 200, refresh_s: 3}}
    detector:
      type: yolo
      model: {tmp}/model.onnx
      input_size: 320
      classes: [person, 2]          # a name and a COCO id
      confidence: 0.4
      nms_iou: 0.3
      threads: 3
      class_names: {tmp}/names.txt
      layout: v8
      max_detections: 7
      cache_dir: {tmp}/cache
    roi:
      cam1:
        - {{name: door, mode: exclude, coords: pixels, anchor: center, min_area: 50, max_area: 900,
           points: [[0, 0], [100, 0], [100, 80]]}}
        - {{name: yard, points: [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]}}
      cam2:
        - {{name: lane, anchor: center, min_area: 0.01, points: [[0, 0], [1, 0], [1, 1]]}}
    confirm: {{hits: 2, window: 4, cooldown_s: 30, mode: median, score_threshold: 0.7,
              end_after_s: 2.5, per_roi: true}}
    publishers: [{{type: jsonl, path: {tmp}/events.jsonl}}]
  - name: moves
    cameras: [cam2]
    detector: {{type: motion, min_area: 0.02, label: movement}}
  - name: still
    cameras: [cam1]
    motion_gate: {{enabled: false}}
"""


@pytest.fixture
def pipes(tmp_path: Path) -> dict[str, PipelineConfig]:
    for name in ("clip.mp4", "model.onnx", "names.txt"):
        (tmp_path / name).write_bytes(b"")
    path = tmp_path / "pool.yaml"
    path.write_text(CONFIG.format(tmp=tmp_path))
    return {pipe.name: pipe for pipe in load_config(path).pipelines}


def _dataclasses_in(hint: Any) -> set[type]:
    """The dataclasses a type hint names, through unions, tuples and dicts."""
    if dataclasses.is_dataclass(hint):
        return {hint}
    return set().union(*(_dataclasses_in(arg) for arg in typing.get_args(hint)))


def _sections(cls: type) -> set[type]:
    """``cls`` and every config dataclass reachable from it, except through fields consumed
    elsewhere (``publishers``)."""
    found = {cls}
    skipped = CONSUMED_ELSEWHERE.get(cls, {})
    for name, hint in typing.get_type_hints(cls).items():
        if name not in skipped:
            for section in _dataclasses_in(hint) - found:
                found |= _sections(section)
    return found


def _default(cls: type, name: str) -> Any:
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def _built(pipes: dict[str, PipelineConfig], tmp: Path) -> list[tuple[Any, Any]]:
    """(config section, the parameter object built from it) for every section in ``pipes``."""
    people, moves, still = pipes["people"], pipes["moves"], pipes["still"]
    pairs: list[tuple[Any, Any]] = [
        (people.detector, yolo_params(people.detector, tmp / "fallback")),
        (moves.detector, motion_params(moves.detector)),
        (people.motion_gate, camera_setups(people)[0].gate),
        (still.motion_gate, gate_params(still.motion_gate)),
    ]
    for pipe in (people, moves, still):
        for setup in camera_setups(pipe):
            pairs.append((pipe.confirm, setup.confirm))
            pairs += zip(pipe.zones(setup.camera_id), setup.zones, strict=True)
    return pairs


def test_every_config_field_is_mapped_or_consumed_elsewhere() -> None:
    sections = _sections(PipelineConfig)
    assert sections == set(ARRIVES_AS), "a config section with no mapping in workers.params"
    for cls in sections:
        names = {f.name for f in dataclasses.fields(cls)}
        covered = set(ARRIVES_AS[cls]) | set(CONSUMED_ELSEWHERE.get(cls, {}))
        assert names - covered == set(), f"{cls.__name__}: fields that reach no pipeline step"
        assert covered - names == set(), f"{cls.__name__}: stale entries in the tables"


def test_every_yaml_value_arrives_in_the_built_params(pipes: dict[str, PipelineConfig],
                                                       tmp_path: Path) -> None:
    pairs = _built(pipes, tmp_path)
    non_default: dict[type, set[str]] = {cls: set() for cls in ARRIVES_AS}
    for section, params in pairs:
        cls = type(section)
        for field, attribute in ARRIVES_AS[cls].items():
            value = getattr(section, field)
            assert getattr(params, attribute) == value, f"{cls.__name__}.{field} was lost"
            if value != _default(cls, field):
                non_default[cls].add(field)
    for cls in (YoloDetectorConfig, MotionDetectorConfig, MotionGateConfig, RoiZone, ConfirmConfig):
        assert non_default[cls] == set(ARRIVES_AS[cls]), f"CONFIG must set every {cls.__name__} field"


def test_class_ids_stay_ids_and_the_worker_cache_is_the_fallback(
        pipes: dict[str, PipelineConfig], tmp_path: Path) -> None:
    params = yolo_params(pipes["people"].detector, tmp_path / "fallback")
    assert params.classes == ("person", 2) and isinstance(params.classes[1], int)
    bare = dataclasses.replace(pipes["people"].detector, cache_dir=None)
    assert yolo_params(bare, tmp_path / "fallback").cache_dir == str(tmp_path / "fallback")


def test_pipeline_level_fields_shape_the_camera_setups(pipes: dict[str, PipelineConfig]) -> None:
    people, moves, still = (camera_setups(pipes[n]) for n in ("people", "moves", "still"))
    assert [s.camera_id for s in people] == ["cam1", "cam2"]
    assert [z.name for z in people[0].zones] == ["door", "yard"]
    assert [z.name for z in people[1].zones] == ["lane"]
    assert moves[0].gate is None                 # motion is the detector: no gate
    assert still[0].gate is None                 # motion_gate.enabled: false
    assert people[0].confirm.per_roi and not moves[0].confirm.per_roi


def test_zone_settings_act_per_zone(pipes: dict[str, PipelineConfig]) -> None:
    """Zones of one camera, each with its own anchor, coordinates and area bounds (200x100)."""
    cam1, cam2 = (RoiFilter(setup.zones) for setup in camera_setups(pipes["people"]))

    def tags(roi: RoiFilter, box: tuple[float, float, float, float]) -> list[str | None]:
        return [d.roi for d in roi.apply([Detection(box, 0.9, "person")], 200, 100)]

    # "door" (exclude, pixels, anchor center, area 50..900): centre (50, 30) inside, bottom
    # centre (50, 50) not, area 800: excluded by its centre
    assert tags(cam1, (40, 10, 60, 50)) == []
    # same centre, area 2400 > door's max_area: "yard" (no bounds, bottom_center) takes it
    assert tags(cam1, (20, 10, 80, 50)) == ["yard"]
    # area 25 < door's min_area: "yard" takes it
    assert tags(cam1, (45, 25, 50, 30)) == ["yard"]
    # "lane" (normalized, anchor center, min_area 1 % = 200 px): centre (110, 50) inside,
    # bottom centre (110, 80) outside; a 100 px box is too small
    assert tags(cam2, (100, 20, 120, 80)) == ["lane"]
    assert tags(cam2, (150, 10, 160, 20)) == []


# publisher config -> {config field: dotted attribute of the publisher params it becomes}
_AWS = {"region": "aws.region", "profile": "aws.profile", "endpoint_url": "aws.endpoint_url"}
PUBLISHER_ARRIVES_AS: dict[type, dict[str, str]] = {
    KinesisPublisherConfig: {"stream_name": "stream_name", "batch_size": "batch_size", **_AWS},
    S3PublisherConfig: {"bucket": "bucket", "prefix": "prefix", "draw_boxes": "draw_boxes",
                        "crop": "crop", **_AWS},
    DynamoDBPublisherConfig: {"table": "table", "ttl_days": "ttl_days", **_AWS},
    JsonlPublisherConfig: {"path": "path"},
    LogPublisherConfig: {"level": "level"},
    MqttPublisherConfig: {f: f for f in (
        "host", "port", "topic_prefix", "client_id", "username", "password_env",
        "password_file", "tls", "ca_file", "timeout_s", "batch_size")},
    WebhookPublisherConfig: {f: f for f in (
        "url", "secret_env", "secret_file", "timeout_s", "batch_size")},
}

# every field of every publisher config with a value other than its default
PUBLISHERS = [
    KinesisPublisherConfig(stream_name="events", batch_size=7, region="eu-west-1",
                           profile="ops", endpoint_url="http://127.0.0.1:9"),
    S3PublisherConfig(bucket="snaps", prefix="p/", draw_boxes=False, crop=True,
                      region="eu-west-2", profile="snap", endpoint_url="http://127.0.0.1:8"),
    DynamoDBPublisherConfig(table="events", ttl_days=3.0, region="eu-west-3", profile="db",
                            endpoint_url="http://127.0.0.1:7"),
    JsonlPublisherConfig(path="/var/lib/kvs-pool/e.jsonl"),
    LogPublisherConfig(level="debug"),
    MqttPublisherConfig(host="broker", port=8883, topic_prefix="site", client_id="c1",
                        username="u", password_env="MQTT_PW", password_file="/run/pw", tls=True,
                        ca_file="/etc/ca.pem", timeout_s=3.0, batch_size=9),
    WebhookPublisherConfig(url="https://hooks.example/e", secret_env="HOOK_KEY",
                           secret_file="/run/key", timeout_s=2.0, batch_size=4),
]


def _attr(obj: Any, dotted: str) -> Any:
    for name in dotted.split("."):
        obj = getattr(obj, name)
    return obj


def test_every_publisher_config_field_is_mapped_or_consumed_elsewhere() -> None:
    assert set(typing.get_args(PublisherConfig)) == set(PUBLISHER_ARRIVES_AS)
    for cls, mapped in PUBLISHER_ARRIVES_AS.items():
        names = {f.name for f in dataclasses.fields(cls)}
        covered = set(mapped) | set(CONSUMED_ELSEWHERE.get(cls, {}))
        assert names - covered == set(), f"{cls.__name__}: fields that reach no publisher"
        assert covered - names == set(), f"{cls.__name__}: stale entries in the tables"


@pytest.mark.parametrize("pub", PUBLISHERS, ids=lambda p: p.type)
def test_every_publisher_value_arrives_in_its_params(pub: Any) -> None:
    params = publisher_params(pub, AwsConfig(region="us-east-1"))
    cls = type(pub)
    for field, attribute in PUBLISHER_ARRIVES_AS[cls].items():
        value = getattr(pub, field)
        assert value != _default(cls, field), f"PUBLISHERS must set {cls.__name__}.{field}"
        got = _attr(params, attribute)
        assert (str(got) if isinstance(got, Path) else got) == value, f"{cls.__name__}.{field}"


def test_aws_publishers_fall_back_to_the_pool_aws_section() -> None:
    pool = AwsConfig(region="ap-south-1", profile="pool", endpoint_url="http://127.0.0.1:5")
    params = publisher_params(KinesisPublisherConfig(stream_name="s", region="eu-west-1"), pool)
    assert isinstance(params, KinesisParams)
    assert (params.aws.region, params.aws.profile, params.aws.endpoint_url) == (
        "eu-west-1", "pool", "http://127.0.0.1:5")


# camera-level fields -> (URLSourceOptions attribute, KVSSourceOptions attribute); ``stall``
# reaches the sources as its frame_timeout_s (its heartbeat_timeout_s is the supervisor's)
CAMERA_ARRIVES_AS: dict[str, tuple[str, str]] = {
    "target_fps": ("target_fps", "target_fps"),
    "max_consecutive_errors": ("max_consecutive_errors", "max_consecutive_errors"),
    "backoff": ("backoff", "backoff"),
    "stall": ("frame_timeout_s", "stall_timeout_s"),
}
SOURCE_ARRIVES_AS = {"transport": "transport"}            # into URLSourceOptions
KVS_ARRIVES_AS = {f: f"session.{f}" for f in (             # into KVSSourceOptions
    "stream_name", "region", "endpoint_url", "profile", "hls_session_seconds", "refresh_margin_s")}

CAMERAS = """
pool: {{name: p1}}
aws: {{region: us-east-1}}
cameras:
  - id: gate
    target_fps: 2.5
    max_consecutive_errors: 4
    backoff: {{initial_s: 1, factor: 3, max_s: 9, jitter: [0.9, 1.1], reset_after_s: 7}}
    stall: {{heartbeat_timeout_s: 30, frame_timeout_s: 12}}
    source: {{url: "rtsp://127.0.0.1:8554/gate", transport: udp, username: "b@b",
              password_env: GATE_PASSWORD}}
  - id: dock
    target_fps: 1.5
    max_consecutive_errors: 3
    backoff: {{initial_s: 2, factor: 4, max_s: 8, jitter: [0.7, 1.3], reset_after_s: 6}}
    stall: {{frame_timeout_s: 40}}
    source:
      kvs: {{stream_name: dock-stream, region: eu-west-1, endpoint_url: "http://127.0.0.1:4",
             profile: ops, hls_session_seconds: 600, refresh_margin_s: 45}}
  - id: yard
    source: {{url: "{tmp}/clip.mp4"}}
"""


@pytest.fixture
def cameras(tmp_path: Path) -> dict[str, CameraConfig]:
    (tmp_path / "clip.mp4").write_bytes(b"")
    path = tmp_path / "pool.yaml"
    path.write_text(CAMERAS.format(tmp=tmp_path))
    return {camera.id: camera for camera in load_config(path).cameras}


def _covered(cls: type, mapped: set[str]) -> None:
    names = {f.name for f in dataclasses.fields(cls)}
    covered = mapped | set(CONSUMED_ELSEWHERE.get(cls, {}))
    assert names - covered == set(), f"{cls.__name__}: fields that reach no source"
    assert covered - names == set(), f"{cls.__name__}: stale entries in the tables"


def test_every_camera_and_source_field_is_mapped_or_consumed_elsewhere() -> None:
    _covered(CameraConfig, set(CAMERA_ARRIVES_AS))
    _covered(SourceConfig, set(SOURCE_ARRIVES_AS))
    _covered(KvsSource, set(KVS_ARRIVES_AS))


def _expected(camera: CameraConfig, field: str) -> Any:
    if field == "backoff":
        return camera.backoff.policy()
    if field == "stall":
        return camera.stall.frame_timeout_s
    return getattr(camera, field)


def test_every_camera_value_arrives_in_the_source_options(
        cameras: dict[str, CameraConfig], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATE_PASSWORD", "s3:cret")
    gate, dock = cameras["gate"], cameras["dock"]
    url = camera_url(gate)
    assert url == "rtsp://b%40b:s3%3Acret@127.0.0.1:8554/gate"
    url_options, kvs_options = url_source_options(gate, url), kvs_source_options(dock)
    for field, (url_attr, kvs_attr) in CAMERA_ARRIVES_AS.items():
        assert getattr(url_options, url_attr) == _expected(gate, field), f"url: {field} lost"
        assert getattr(kvs_options, kvs_attr) == _expected(dock, field), f"kvs: {field} lost"
        for camera in (gate, dock):
            assert getattr(camera, field) != _default(CameraConfig, field), f"set {field}"
    assert url_options.transport == gate.source.transport == "udp"
    assert not url_options.loop and not url_options.realtime      # a live camera
    for field, attribute in KVS_ARRIVES_AS.items():
        value = getattr(dock.source.kvs, field)
        assert _attr(kvs_options, attribute) == value, f"KvsSource.{field} lost"
        assert value != _default(KvsSource, field), f"CAMERAS must set KvsSource.{field}"


def test_a_file_camera_loops_in_real_time(cameras: dict[str, CameraConfig]) -> None:
    yard = cameras["yard"]
    options = url_source_options(yard, camera_url(yard))
    assert options.loop and options.realtime


def test_the_wrong_kind_of_source_is_refused(cameras: dict[str, CameraConfig]) -> None:
    with pytest.raises(ValueError, match=r"cameras\[gate\].source: not a kvs source"):
        kvs_source_options(cameras["gate"])
    with pytest.raises(ValueError, match=r"cameras\[dock\].source: not a url source"):
        camera_url(cameras["dock"])
