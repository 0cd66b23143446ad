"""Configuration: YAML -> typed, validated, frozen dataclasses (``load_config``).

Sections live in their own modules (``pool``, ``camera``, ``emulator``, ``pipeline``,
``publish``); ``schema`` is the one generic reader they share; ``document`` reads YAML with line
numbers. See ``docs/config.md`` for the file format.
"""

from kvs_pool.config.assignment import AssignmentConfig
from kvs_pool.config.camera import (
    BackoffConfig,
    CameraConfig,
    CameraDefaults,
    KvsSource,
    SourceConfig,
    StallConfig,
)
from kvs_pool.config.emulator import EmulatorSection, EmulatorStream
from kvs_pool.config.load import load_config, parse_config
from kvs_pool.config.pipeline import (
    ConfirmConfig,
    DetectorConfig,
    MotionDetectorConfig,
    MotionGateConfig,
    PipelineConfig,
    RoiZone,
    YoloDetectorConfig,
)
from kvs_pool.config.pool import NAME_PATTERN, AwsConfig, MetricsConfig, PoolConfig, PoolSection
from kvs_pool.config.publish import (
    DynamoDBPublisherConfig,
    JsonlPublisherConfig,
    KinesisPublisherConfig,
    LogPublisherConfig,
    MqttPublisherConfig,
    OutboxConfig,
    PublisherConfig,
    S3PublisherConfig,
    WebhookPublisherConfig,
)
from kvs_pool.errors import ConfigError

__all__ = [
    "load_config", "parse_config", "ConfigError", "NAME_PATTERN",
    "PoolConfig", "PoolSection", "MetricsConfig", "AwsConfig",
    "CameraDefaults", "CameraConfig", "SourceConfig", "KvsSource", "BackoffConfig", "StallConfig",
    "EmulatorSection", "EmulatorStream",
    "PipelineConfig", "MotionGateConfig", "DetectorConfig", "MotionDetectorConfig",
    "YoloDetectorConfig", "RoiZone", "ConfirmConfig",
    "PublisherConfig", "KinesisPublisherConfig", "S3PublisherConfig", "DynamoDBPublisherConfig",
    "JsonlPublisherConfig", "LogPublisherConfig", "OutboxConfig",
    "AssignmentConfig",
    "MqttPublisherConfig", "WebhookPublisherConfig",
]
