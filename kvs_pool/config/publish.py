"""Publisher and outbox sections: where confirmed events go, and the durable queue before them.

``publishers`` is a list discriminated by ``type``; AWS publishers take region, profile and
endpoint_url from the ``aws`` section when they do not set them. To add a publisher: a frozen
dataclass with ``type: Literal["<name>"]`` here, and its name in ``PublisherConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kvs_pool.config.camera import BackoffConfig, valid_endpoint, valid_region
from kvs_pool.config.schema import at_least, between, greater_than, matches, not_empty, setting

__all__ = [
    "AwsClientSettings", "KinesisPublisherConfig", "S3PublisherConfig",
    "DynamoDBPublisherConfig", "JsonlPublisherConfig", "LogPublisherConfig",
    "PublisherConfig", "OutboxConfig",
]


@dataclass(frozen=True, kw_only=True)
class AwsClientSettings:
    """Region, profile and endpoint of one AWS client (null: from the ``aws`` section)."""

    region: str | None = setting(None, check=valid_region)
    profile: str | None = setting(None, check=not_empty)
    endpoint_url: str | None = setting(None, check=valid_endpoint)


@dataclass(frozen=True, kw_only=True)
class KinesisPublisherConfig(AwsClientSettings):
    """Kinesis Data Streams: batched put_records, partition key = camera id."""

    type: Literal["kinesis"] = "kinesis"
    stream_name: str = setting(check=matches(r"[a-zA-Z0-9_.-]{1,128}", "a Kinesis stream name"))
    batch_size: int = setting(100, check=between(1, 500), doc="records per put_records")


@dataclass(frozen=True, kw_only=True)
class S3PublisherConfig(AwsClientSettings):
    """S3: one JPEG snapshot per event under ``<prefix><camera>/<yyyy>/<mm>/<dd>/``."""

    type: Literal["s3"] = "s3"
    bucket: str = setting(check=matches(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", "an S3 bucket name"))
    prefix: str = "events"
    draw_boxes: bool = True
    crop: bool = False


@dataclass(frozen=True, kw_only=True)
class DynamoDBPublisherConfig(AwsClientSettings):
    """DynamoDB: one item per event, expiring after ``ttl_days`` (null: never)."""

    type: Literal["dynamodb"] = "dynamodb"
    table: str = setting(check=matches(r"[a-zA-Z0-9_.-]{3,255}", "a DynamoDB table name"))
    ttl_days: float | None = setting(None, check=greater_than(0))


@dataclass(frozen=True, kw_only=True)
class JsonlPublisherConfig:
    """Append one JSON line per event to a local file."""

    type: Literal["jsonl"] = "jsonl"
    path: str = setting(kind="path")


@dataclass(frozen=True, kw_only=True)
class LogPublisherConfig:
    """Log each event (for trials)."""

    type: Literal["log"] = "log"
    level: Literal["debug", "info", "warning"] = "info"


PublisherConfig = (KinesisPublisherConfig | S3PublisherConfig | DynamoDBPublisherConfig
                   | JsonlPublisherConfig | LogPublisherConfig)


def _retry_default() -> BackoffConfig:
    return BackoffConfig(initial_s=1.0, max_s=60.0)


@dataclass(frozen=True, kw_only=True)
class OutboxConfig:
    """The durable on-disk queue every event passes before its publishers."""

    path: str | None = setting(None, kind="path", doc="default <state_dir>/outbox.sqlite3")
    max_events: int = setting(
        100_000, check=at_least(1),
        doc="beyond this new events are refused (counted, logged); accepted ones are never dropped")
    retry: BackoffConfig = setting(factory=_retry_default)
