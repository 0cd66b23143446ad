"""Build publishers, the outbox and its loop from configuration.

``build_publishers`` accepts each publisher's config as a mapping (straight from YAML) or as a
dataclass from ``kvs_pool.config``; both have a ``type`` (kinesis | s3 | dynamodb | jsonl | log |
mqtt | webhook) and
that type's fields. ``region``, ``endpoint_url``, ``profile``, ``retry_mode`` and
``max_attempts`` may be set per publisher and otherwise come from the pool's ``aws`` section.
Unknown types or fields are a ``ConfigError`` naming them.

``publishing_from_config`` is the one call an inference worker makes: it takes the loaded pool
config (duck-typed: ``outbox.path``, ``outbox.max_events``, ``outbox.retry.policy()``, ``aws``;
this package does not import ``kvs_pool.config``) and the pipeline's publisher list.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kvs_pool.errors import ConfigError
from kvs_pool.publish.aws import AwsParams
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

__all__ = ["build_publishers", "open_publishing", "worker_outbox_path", "publishing_from_config"]

_AWS_FIELDS = {f.name for f in dataclasses.fields(AwsParams)}
_KINDS: dict[str, tuple[type, Callable[[Any], Publisher], bool]] = {
    "kinesis": (KinesisParams, KinesisPublisher, True),
    "s3": (S3Params, S3Publisher, True),
    "dynamodb": (DynamoParams, DynamoPublisher, True),
    "jsonl": (JsonlParams, JsonlPublisher, False),
    "log": (LogParams, LogPublisher, False),
    "mqtt": (MqttParams, MqttPublisher, False),
    "webhook": (WebhookParams, WebhookPublisher, False),
}


def _as_dict(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    if isinstance(obj, Mapping):
        return dict(obj)
    if dataclasses.is_dataclass(obj):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    return dict(vars(obj))


def _aws_params(own: dict[str, Any], pool_aws: dict[str, Any]) -> AwsParams:
    """The pool's ``aws`` section overridden by the publisher's own AWS fields (popped)."""
    merged = {k: v for k, v in pool_aws.items() if k in _AWS_FIELDS and v is not None}
    for key in [k for k in own if k in _AWS_FIELDS]:
        value = own.pop(key)
        if value is not None:
            merged[key] = value
    return AwsParams(**merged)


def _build_one(index: int, config: Any, pool_aws: dict[str, Any]) -> Publisher:
    fields = _as_dict(config)
    kind = str(fields.pop("type", ""))
    where = f"publishers[{index}]"
    if kind not in _KINDS:
        raise ConfigError([f"{where}.type: {kind!r} is not one of {sorted(_KINDS)}"])
    params_cls, publisher_cls, uses_aws = _KINDS[kind]
    known = {f.name for f in dataclasses.fields(params_cls)}
    aws = _aws_params(fields, pool_aws) if uses_aws else None
    unknown = sorted(k for k in fields if k not in known or k == "aws")
    if unknown:
        raise ConfigError([f"{where}.{k}: unknown field for a {kind} publisher" for k in unknown])
    if aws is not None:
        fields["aws"] = aws
    try:
        return publisher_cls(params_cls(**fields))
    except (TypeError, ValueError) as exc:
        raise ConfigError([f"{where}: {exc}"]) from None


def build_publishers(configs: Sequence[Any], aws: Any = None) -> list[Publisher]:
    """One publisher per config entry; names must be unique (one stream, bucket, table each)."""
    pool_aws = _as_dict(aws)
    publishers = [_build_one(i, c, pool_aws) for i, c in enumerate(configs)]
    names = [p.name for p in publishers]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError([f"publishers: {n} is configured twice" for n in dupes])
    return publishers


def open_publishing(path: Path, publishers: Sequence[Publisher],
                    outbox: OutboxParams | None = None,
                    loop: LoopParams = LoopParams()) -> tuple[Outbox, PublisherLoop]:
    """The outbox at ``path`` for these publishers and its (not yet started) loop."""
    params = dataclasses.replace(outbox, path=Path(path)) if outbox else OutboxParams(Path(path))
    box = Outbox(params, {p.name: p.stage for p in publishers})
    return box, PublisherLoop(box, publishers, loop)


def worker_outbox_path(path: Path | str, worker: str) -> Path:
    """One outbox file per worker (a file has one owner): ``outbox.sqlite3`` ->
    ``outbox.<worker>.sqlite3``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.{worker}{path.suffix or '.sqlite3'}")


def publishing_from_config(pool: Any, publishers: Sequence[Any],
                           worker: str) -> tuple[Outbox, PublisherLoop]:
    """The outbox and (not started) loop of ``worker`` from a loaded ``PoolConfig``."""
    box = pool.outbox
    path = worker_outbox_path(box.path, worker)
    retry = box.retry.policy() if getattr(box, "retry", None) is not None else None
    loop = LoopParams(backoff=retry) if retry is not None else LoopParams()
    return open_publishing(path, build_publishers(publishers, getattr(pool, "aws", None)),
                           OutboxParams(path, max_events=box.max_events), loop)
