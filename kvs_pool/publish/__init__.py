"""Durable event publishing: the on-disk outbox and the AWS publishers it drains to.

Typical use in an inference worker (``config`` from ``kvs_pool.config.load_config``, its
sections made typed params by ``kvs_pool.workers.params``)::

    outbox, loop = open_publishing(publishing_params(config, pipeline.publishers, "people"))
    loop.start()
    outbox.emit(event, render_snapshot(frame, event))   # durable when it returns
    stats = outbox.snapshot_stats()                      # into the worker's stats JSON
    loop.stop(flush_timeout_s=5); outbox.close()
"""

from kvs_pool.publish.aws import AwsParams
from kvs_pool.publish.base import OutboxItem, Outcome, Publisher
from kvs_pool.publish.dynamodb import DynamoParams, DynamoPublisher
from kvs_pool.publish.factory import (
                                      PublisherParams,
                                      PublishingParams,
                                      build_publisher,
                                      build_publishers,
                                      open_outbox,
                                      open_publishing,
                                      worker_outbox_path,
)
from kvs_pool.publish.jsonl import JsonlParams, JsonlPublisher
from kvs_pool.publish.kinesis import KinesisParams, KinesisPublisher
from kvs_pool.publish.logpub import LogParams, LogPublisher
from kvs_pool.publish.loop import LoopParams, PublisherLoop
from kvs_pool.publish.mqtt import MqttParams, MqttPublisher
from kvs_pool.publish.outbox import Outbox, OutboxParams
from kvs_pool.publish.s3 import S3Params, S3Publisher
from kvs_pool.publish.snapshot import render_crop, render_snapshot
from kvs_pool.publish.stats import PublishStats
from kvs_pool.publish.webhook import WebhookParams, WebhookPublisher

__all__ = [
    "AwsParams", "OutboxItem", "Outcome", "Publisher", "DynamoParams", "DynamoPublisher",
    "build_publishers", "open_publishing", "JsonlParams", "JsonlPublisher", "KinesisParams",
    "KinesisPublisher", "LoopParams", "PublisherLoop", "Outbox", "OutboxParams", "S3Params",
    "S3Publisher", "render_crop", "render_snapshot", "PublishStats", "LogParams", "LogPublisher",
    "open_outbox", "worker_outbox_path", "PublisherParams", "PublishingParams",
    "build_publisher",
    "MqttParams", "MqttPublisher", "WebhookParams", "WebhookPublisher",
]
