"""Publisher and outbox sections: where confirmed events go, and the durable queue before them.

``publishers`` is a list discriminated by ``type``; AWS publishers take region, profile and
endpoint_url from the ``aws`` section when they do not set them. To add a publisher: a frozen
dataclass with ``type: Literal["<name>"]`` here, and its name in ``PublisherConfig``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from kvs_pool.config.camera import BackoffConfig, valid_endpoint, valid_region
from kvs_pool.config.schema import (
    at_least,
    between,
    greater_than,
    matches,
    not_empty,
    one_of_schemes,
    setting,
)

__all__ = [
    "AwsClientSettings", "KinesisPublisherConfig", "S3PublisherConfig",
    "DynamoDBPublisherConfig", "JsonlPublisherConfig", "LogPublisherConfig",
    "PublisherConfig", "OutboxConfig", "MqttPublisherConfig", "WebhookPublisherConfig",
]

_ENV_NAME = matches(r"[A-Za-z_][A-Za-z0-9_]*", "an environment variable name")


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


@dataclass(frozen=True, kw_only=True)
class MqttPublisherConfig:
    """MQTT (Frigate's topics): ``<topic_prefix>/events`` JSON, ``<topic_prefix>/<camera>/<label>``
    counts, a retained ``<topic_prefix>/available`` with a last will; QoS 1. The password comes
    from ``password_env`` or ``password_file``, never from this file."""

    type: Literal["mqtt"] = "mqtt"
    host: str = setting(check=not_empty, doc="the broker's host name or address")
    port: int = setting(1883, check=between(1, 65535), doc="1883; 8883 is usual with tls")
    topic_prefix: str = setting(
        "kvs_pool", check=matches(r"[^#+\s]+", "a topic without + # or spaces"))
    client_id: str | None = setting(None, check=not_empty, doc="null: kvs-pool-<prefix>-<pid>")
    username: str | None = setting(None, check=not_empty)
    password_env: str | None = setting(None, check=_ENV_NAME)
    password_file: str | None = setting(None, kind="path")
    tls: bool = setting(False, doc="TLS to the broker (system CAs unless ca_file)")
    ca_file: str | None = setting(None, kind="path", doc="CA bundle that signed the broker")
    timeout_s: float = setting(10.0, check=greater_than(0), doc="wait this long for a PUBACK")
    batch_size: int = setting(100, check=between(1, 1000), doc="events handed per call")

    def validate(self) -> Iterator[tuple[str, str]]:
        if importlib.util.find_spec("paho") is None:
            yield "type", "needs paho-mqtt, which is not installed: pip install 'kvs-pool[mqtt]'"
        if self.password_env is not None and self.password_file is not None:
            yield "password_env", "set password_env or password_file, not both"
        if (self.password_env or self.password_file) and self.username is None:
            yield "username", "a password needs a username"
        if self.ca_file is not None and not self.tls:
            yield "ca_file", "applies with tls: true only"


@dataclass(frozen=True, kw_only=True)
class WebhookPublisherConfig:
    """HTTP POST of each event's JSON, signed with HMAC-SHA256 (``X-KVS-Pool-Signature``) by a
    key from ``secret_env`` or ``secret_file``. 2xx delivers; 5xx, 408, 429 and network errors
    are retried with backoff; any other 4xx rejects the event for this webhook (logged, counted)."""

    type: Literal["webhook"] = "webhook"
    url: str = setting(check=one_of_schemes("http", "https"))
    secret_env: str | None = setting(None, check=_ENV_NAME, doc="HMAC key from this variable")
    secret_file: str | None = setting(None, kind="path", doc="HMAC key from this file")
    timeout_s: float = setting(10.0, check=greater_than(0))
    batch_size: int = setting(50, check=between(1, 1000), doc="events handed per call")

    def validate(self) -> Iterator[tuple[str, str]]:
        if self.secret_env is not None and self.secret_file is not None:
            yield "secret_env", "set secret_env or secret_file, not both"


PublisherConfig = (KinesisPublisherConfig | S3PublisherConfig | DynamoDBPublisherConfig
                   | JsonlPublisherConfig | LogPublisherConfig | MqttPublisherConfig
                   | WebhookPublisherConfig)


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
