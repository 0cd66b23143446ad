"""Config sections -> runtime parameters: one explicit, typed function per section.

The one place config becomes settings: a camera's source (``url_source_options`` with
``camera_url``, ``kvs_source_options``), pipeline steps (``yolo_params`` ... ``camera_setups``),
publishers and the outbox (``publisher_params``, ``publishing_params``). The sources, pipeline
and publish packages do not import the config (``docs/contracts.md``: imports point one way), so
the translation lives on the worker side, which imports both. The source modules are imported
by the functions that need them: a URL decoder never loads the KVS source's boto3.

Every parameter is passed by keyword from a named config attribute: a field renamed on either
side is a ``TypeError`` or an ``AttributeError`` when the worker starts, never a setting silently
left at its default (the earlier copy-by-matching-name did that). The config fields that do not
reach a parameter object are listed, with where they go, in ``CONSUMED_ELSEWHERE``;
``tests/workers/test_params.py`` fails when a config field is in neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

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
    PoolConfig,
    PublisherConfig,
    RoiZone,
    S3PublisherConfig,
    SourceConfig,
    WebhookPublisherConfig,
    YoloDetectorConfig,
)
from kvs_pool.config.publish import AwsClientSettings
from kvs_pool.pipeline import (
    CameraSetup,
    ConfirmParams,
    GateParams,
    MotionParams,
    YoloParams,
    Zone,
)
from kvs_pool.publish import (
    AwsParams,
    DynamoParams,
    JsonlParams,
    KinesisParams,
    LogParams,
    LoopParams,
    MqttParams,
    OutboxParams,
    S3Params,
    WebhookParams,
    worker_outbox_path,
)
from kvs_pool.publish.factory import PublisherParams, PublishingParams
from kvs_pool.secrets import read_secret

if TYPE_CHECKING:
    from kvs_pool.sources.kvs_hls import KVSSourceOptions
    from kvs_pool.sources.url import URLSourceOptions

__all__ = [
    "CONSUMED_ELSEWHERE", "yolo_params", "motion_params", "gate_params", "zone",
    "confirm_params", "camera_setups", "camera_url", "url_source_options", "kvs_source_options",
    "aws_params", "publisher_params", "publishing_params",
]

CONSUMED_ELSEWHERE: dict[type, dict[str, str]] = {
    CameraConfig: {
        "id": "the ring's name and the decoder's worker name (supervisor.specs)",
        "source": "camera_url / url_source_options / kvs_source_options, by its kind",
        "ring_slots": "the ring's slot count (supervisor.specs -> RingSpec)",
        "max_resolution": "the ring's slot size (supervisor.specs -> RingSpec)",
        "stall": "heartbeat_timeout_s: the supervisor's hung rule (supervisor.specs); "
                 "frame_timeout_s: mapped by url_source_options / kvs_source_options",
    },
    SourceConfig: {
        "kvs": "kvs_source_options (the session's stream and AWS settings)",
        "url": "camera_url", "username": "camera_url", "password_env": "camera_url",
        "password_file": "camera_url",
    },
    PipelineConfig: {
        "name": "Pipeline(name) and the worker's name (inference.worker_name)",
        "publishers": "inference: outbox and publish loop, build_renderer",
        "max_fps": "inference: least interval between two frames of one camera",
    },
    YoloDetectorConfig: {"type": "inference.build_detector: chooses YoloDetector"},
    MotionDetectorConfig: {"type": "inference.build_detector: chooses MotionDetector"},
    KinesisPublisherConfig: {"type": "publisher_params: chooses KinesisParams"},
    S3PublisherConfig: {"type": "publisher_params: chooses S3Params"},
    DynamoDBPublisherConfig: {"type": "publisher_params: chooses DynamoParams"},
    JsonlPublisherConfig: {"type": "publisher_params: chooses JsonlParams"},
    LogPublisherConfig: {"type": "publisher_params: chooses LogParams"},
    MqttPublisherConfig: {"type": "publisher_params: chooses MqttParams"},
    WebhookPublisherConfig: {"type": "publisher_params: chooses WebhookParams"},
}
"""Config fields of the pipeline sections that no function here maps, and who uses them
(``cameras``, ``roi`` and the sub-sections are mapped by ``camera_setups``)."""


def yolo_params(det: YoloDetectorConfig, cache_dir: Path) -> YoloParams:
    """The ``yolo`` detector's parameters; ``cache_dir`` when the config names none."""
    return YoloParams(
        model=det.model, input_size=det.input_size, classes=det.classes,
        confidence=det.confidence, nms_iou=det.nms_iou, threads=det.threads,
        layout=det.layout, class_names=det.class_names, max_detections=det.max_detections,
        cache_dir=det.cache_dir or str(cache_dir),
    )


def motion_params(det: MotionDetectorConfig) -> MotionParams:
    """The ``motion`` detector's parameters."""
    return MotionParams(min_area=det.min_area, label=det.label)


def gate_params(gate: MotionGateConfig) -> GateParams:
    """The motion gate's parameters."""
    return GateParams(
        enabled=gate.enabled, downscale_width=gate.downscale_width, threshold=gate.threshold,
        min_area=gate.min_area, history=gate.history, refresh_s=gate.refresh_s,
    )


def zone(roi: RoiZone) -> Zone:
    """One ROI zone, with its own anchor, coordinates and area bounds."""
    return Zone(
        name=roi.name, points=roi.points, mode=roi.mode, coords=roi.coords,
        anchor=roi.anchor, min_area=roi.min_area, max_area=roi.max_area,
    )


def confirm_params(confirm: ConfirmConfig) -> ConfirmParams:
    """Temporal confirmation's parameters."""
    return ConfirmParams(
        hits=confirm.hits, window=confirm.window, cooldown_s=confirm.cooldown_s,
        mode=confirm.mode, score_threshold=confirm.score_threshold,
        end_after_s=confirm.end_after_s, per_roi=confirm.per_roi,
    )


def camera_setups(pipe: PipelineConfig) -> list[CameraSetup]:
    """Per-camera gate, zones and confirmation (no gate when motion is the detector)."""
    gated = pipe.motion_gate.enabled and not isinstance(pipe.detector, MotionDetectorConfig)
    gate = gate_params(pipe.motion_gate) if gated else None
    confirm = confirm_params(pipe.confirm)
    return [CameraSetup(camera_id=cid, gate=gate, zones=tuple(zone(z) for z in pipe.zones(cid)),
                        confirm=confirm)
            for cid in pipe.cameras]


def aws_params(own: AwsClientSettings, pool: AwsConfig | None) -> AwsParams:
    """An AWS publisher's client settings: its own where set, else the pool's ``aws`` section."""
    pool = pool or AwsConfig()
    return AwsParams(region=own.region or pool.region, profile=own.profile or pool.profile,
                     endpoint_url=own.endpoint_url or pool.endpoint_url)


def _kinesis(pub: KinesisPublisherConfig, aws: AwsConfig | None) -> KinesisParams:
    return KinesisParams(stream_name=pub.stream_name, batch_size=pub.batch_size,
                         aws=aws_params(pub, aws))


def _s3(pub: S3PublisherConfig, aws: AwsConfig | None) -> S3Params:
    return S3Params(bucket=pub.bucket, prefix=pub.prefix, crop=pub.crop,
                    draw_boxes=pub.draw_boxes, aws=aws_params(pub, aws))


def _dynamodb(pub: DynamoDBPublisherConfig, aws: AwsConfig | None) -> DynamoParams:
    return DynamoParams(table=pub.table, ttl_days=pub.ttl_days, aws=aws_params(pub, aws))


def _mqtt(pub: MqttPublisherConfig) -> MqttParams:
    return MqttParams(
        host=pub.host, port=pub.port, topic_prefix=pub.topic_prefix, client_id=pub.client_id,
        username=pub.username, password_env=pub.password_env, password_file=pub.password_file,
        tls=pub.tls, ca_file=pub.ca_file, timeout_s=pub.timeout_s, batch_size=pub.batch_size)


def _webhook(pub: WebhookPublisherConfig) -> WebhookParams:
    return WebhookParams(url=pub.url, secret_env=pub.secret_env, secret_file=pub.secret_file,
                         timeout_s=pub.timeout_s, batch_size=pub.batch_size)


def publisher_params(pub: PublisherConfig, aws: AwsConfig | None = None) -> PublisherParams:
    """One publisher's parameters (AWS ones fall back to the pool's ``aws`` section)."""
    if isinstance(pub, KinesisPublisherConfig):
        return _kinesis(pub, aws)
    if isinstance(pub, S3PublisherConfig):
        return _s3(pub, aws)
    if isinstance(pub, DynamoDBPublisherConfig):
        return _dynamodb(pub, aws)
    if isinstance(pub, JsonlPublisherConfig):
        return JsonlParams(path=Path(pub.path))
    if isinstance(pub, LogPublisherConfig):
        return LogParams(level=pub.level)
    if isinstance(pub, MqttPublisherConfig):
        return _mqtt(pub)
    if isinstance(pub, WebhookPublisherConfig):
        return _webhook(pub)
    raise TypeError(f"no publisher parameters for {type(pub).__name__}")


def publishing_params(pool: PoolConfig, publishers: Sequence[PublisherConfig],
                      worker: str) -> PublishingParams:
    """``worker``'s outbox (one file per worker), its publishers and the loop's retry backoff."""
    box = pool.outbox
    if box.path is None:
        raise ValueError("outbox.path is unset: load the config with load_config")
    path = worker_outbox_path(box.path, worker)
    return PublishingParams(
        outbox=OutboxParams(path, max_events=box.max_events),
        publishers=tuple(publisher_params(p, pool.aws) for p in publishers),
        loop=LoopParams(backoff=box.retry.policy()))


def camera_url(camera: CameraConfig) -> str:
    """The ``url:`` camera's URL with its user and password (read now, from env or file)."""
    src = camera.source
    if src.url is None:
        raise ValueError(f"cameras[{camera.id}].source: not a url source")
    from kvs_pool.sources.url import with_credentials
    password = read_secret(src.password_env, src.password_file,
                           f"cameras[{camera.id}].source.password")
    return with_credentials(src.url, src.username, password)


def url_source_options(camera: CameraConfig, url: str) -> URLSourceOptions:
    """A ``url:`` camera's options; a file (``url`` from ``camera_url``) loops in real time,
    so a camera in the config behaves like a camera."""
    from kvs_pool.sources.url import URLSourceOptions, is_file_url
    is_file = is_file_url(url)
    return URLSourceOptions(
        target_fps=camera.target_fps, loop=is_file, realtime=is_file,
        backoff=camera.backoff.policy(), frame_timeout_s=camera.stall.frame_timeout_s,
        max_consecutive_errors=camera.max_consecutive_errors, transport=camera.source.transport)


def kvs_source_options(camera: CameraConfig) -> KVSSourceOptions:
    """A ``kvs:`` camera's options, its session settings nested (``SessionOptions``)."""
    from kvs_pool.sources.kvs_hls import KVSSourceOptions
    from kvs_pool.sources.kvs_session import SessionOptions
    kvs: KvsSource | None = camera.source.kvs
    if kvs is None:
        raise ValueError(f"cameras[{camera.id}].source: not a kvs source")
    session = SessionOptions(
        stream_name=kvs.stream_name, region=kvs.region, profile=kvs.profile,
        endpoint_url=kvs.endpoint_url, hls_session_seconds=kvs.hls_session_seconds,
        refresh_margin_s=kvs.refresh_margin_s)
    return KVSSourceOptions(
        session=session, target_fps=camera.target_fps,
        stall_timeout_s=camera.stall.frame_timeout_s,
        max_consecutive_errors=camera.max_consecutive_errors, backoff=camera.backoff.policy())
