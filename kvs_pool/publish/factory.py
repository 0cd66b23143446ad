"""Build publishers, the outbox and its loop from typed parameters.

Each publisher takes its own params dataclass (``KinesisParams``, ``S3Params``, ... ; the union
is ``PublisherParams``); ``build_publishers`` picks the publisher by the params' type. Config
sections become these params in ``kvs_pool.workers.params`` (this package does not import
``kvs_pool.config``), so nothing here re-validates a mapping.

``open_publishing(PublishingParams)`` is the one call an inference worker makes::

    box, loop = open_publishing(publishing_params(config, pipeline.publishers, "people"))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kvs_pool.errors import ConfigError
from kvs_pool.publish.base import Publisher
from kvs_pool.publish.dynamodb import DynamoParams, DynamoPublisher
from kvs_pool.publish.jsonl import JsonlParams, JsonlPublisher
from kvs_pool.publish.kinesis import KinesisParams, KinesisPublisher
from kvs_pool.publish.logpub import LogParams, LogPublisher
from kvs_pool.publish.loop import LoopParams, PublisherLoop
from kvs_pool.publish.mqtt import MqttParams, MqttPublisher
from kvs_pool.publish.outbox import Outbox, OutboxParams
from kvs_pool.publish.s3 import S3Params, S3Publisher
from kvs_pool.publish.webhook import WebhookParams, WebhookPublisher

__all__ = ["PublisherParams", "PublishingParams", "build_publisher", "build_publishers",
           "open_publishing", "open_outbox", "worker_outbox_path"]

PublisherParams = (KinesisParams | S3Params | DynamoParams | JsonlParams | LogParams
                   | MqttParams | WebhookParams)

_PUBLISHERS: dict[type, Callable[[Any], Publisher]] = {
    KinesisParams: KinesisPublisher, S3Params: S3Publisher, DynamoParams: DynamoPublisher,
    JsonlParams: JsonlPublisher, LogParams: LogPublisher, MqttParams: MqttPublisher,
    WebhookParams: WebhookPublisher,
}


@dataclass(frozen=True)
class PublishingParams:
    """One worker's publishing: its outbox, the publishers it drains to, the loop's timing."""

    outbox: OutboxParams
    publishers: tuple[PublisherParams, ...]
    loop: LoopParams = LoopParams()


def build_publisher(params: PublisherParams) -> Publisher:
    """The publisher for these params (chosen by their type)."""
    try:
        publisher_cls = _PUBLISHERS[type(params)]
    except KeyError:
        raise TypeError(f"no publisher takes {type(params).__name__}") from None
    return publisher_cls(params)


def build_publishers(params: Sequence[PublisherParams]) -> list[Publisher]:
    """One publisher per params entry; names must be unique (one stream, bucket, table each)."""
    publishers = [build_publisher(p) for p in params]
    names = [p.name for p in publishers]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError([f"publishers: {n} is configured twice" for n in dupes])
    return publishers


def open_outbox(path: Path, publishers: Sequence[Publisher],
                outbox: OutboxParams | None = None,
                loop: LoopParams = LoopParams()) -> tuple[Outbox, PublisherLoop]:
    """The outbox at ``path`` for these (built) publishers and its (not yet started) loop."""
    params = dataclasses.replace(outbox, path=Path(path)) if outbox else OutboxParams(Path(path))
    box = Outbox(params, {p.name: p.stage for p in publishers})
    return box, PublisherLoop(box, publishers, loop)


def open_publishing(params: PublishingParams) -> tuple[Outbox, PublisherLoop]:
    """A worker's outbox and (not started) loop, with its publishers built from ``params``."""
    publishers = build_publishers(params.publishers)
    return open_outbox(params.outbox.path, publishers, params.outbox, params.loop)


def worker_outbox_path(path: Path | str, worker: str) -> Path:
    """One outbox file per worker (a file has one owner): ``outbox.sqlite3`` ->
    ``outbox.<worker>.sqlite3``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.{worker}{path.suffix or '.sqlite3'}")
