"""DynamoDB publisher: one item per event, written with a conditional put so a retry never
makes a second item.

Item: every event field (floats as numbers), plus the sort key ``<sort_key>`` =
``<frame_ts as UTC ISO-8601 with microseconds>#<event_id>`` (sorts by time within a camera),
the partition key ``camera_id`` (the event's own field), and, when ``ttl_days`` is set, the TTL
attribute (Unix seconds, as DynamoDB TTL wants). ``attribute_not_exists(<sort_key>)`` makes the
put conditional: a ``ConditionalCheckFailedException`` means an earlier try already landed, which
counts as delivered.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kvs_pool.publish.aws import AwsParams, describe_error, make_client
from kvs_pool.publish.base import OutboxItem, Outcome, publish_each

__all__ = ["DynamoParams", "DynamoPublisher", "build_item", "sort_key_value"]



@functools.cache
def _serializer() -> Any:
    """boto3's attribute-value serializer (boto3 is imported when the first item is built)."""
    from boto3.dynamodb.types import TypeSerializer
    return TypeSerializer()


@dataclass(frozen=True)
class DynamoParams:
    """The table, its key attribute names and the TTL."""

    table: str
    partition_key: str = "camera_id"
    sort_key: str = "ts_event"
    ttl_days: float | None = None
    ttl_attribute: str = "expires_at"
    aws: AwsParams = field(default_factory=AwsParams)
    batch_size: int = 50


def sort_key_value(event: dict[str, Any]) -> str:
    """``2026-11-24T15:53:21.123456Z#<event_id>`` from ``frame_ts``."""
    ts = float(event.get("frame_ts") or event.get("detected_ts") or 0.0)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts))
    micros = int(round((ts - int(ts)) * 1_000_000)) % 1_000_000
    return f"{stamp}.{micros:06d}Z#{event['event_id']}"


def build_item(event: dict[str, Any], params: DynamoParams) -> dict[str, Any]:
    """The low-level (typed) item for one event."""
    doc = json.loads(json.dumps(event), parse_float=Decimal)
    doc[params.partition_key] = event["camera_id"]
    doc[params.sort_key] = sort_key_value(event)
    if params.ttl_days is not None:
        ts = float(event.get("frame_ts") or time.time())
        doc[params.ttl_attribute] = int(ts + params.ttl_days * 86400)
    return {k: _serializer().serialize(v) for k, v in doc.items() if v is not None}


class DynamoPublisher:
    """Stage-1 publisher: one conditional ``put_item`` per event."""

    stage = 1

    def __init__(self, params: DynamoParams, client: Any | None = None) -> None:
        self.params = params
        self.name = f"dynamodb:{params.table}"
        self.batch_size = max(1, params.batch_size)
        self.client = client or make_client("dynamodb", params.aws)

    def publish(self, items: Sequence[OutboxItem]) -> list[Outcome]:
        """Put each item (``base.publish_each``: one camera's failure holds its later items)."""
        return publish_each(items, self._put)

    def _put(self, item: OutboxItem) -> Outcome:
        from botocore.exceptions import ClientError
        try:
            self.client.put_item(
                TableName=self.params.table, Item=build_item(item.event, self.params),
                ConditionExpression="attribute_not_exists(#sk)",
                ExpressionAttributeNames={"#sk": self.params.sort_key})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return Outcome(item.seq, True)      # an earlier attempt already wrote it
            error, throttled = describe_error(exc)
            return Outcome(item.seq, False, error, throttled)
        except Exception as exc:  # connection refused, timeouts
            error, throttled = describe_error(exc)
            return Outcome(item.seq, False, error, throttled)
        return Outcome(item.seq, True)
