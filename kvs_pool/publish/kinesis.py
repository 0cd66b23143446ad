"""Kinesis Data Streams publisher: events as JSON records via ``put_records``, partition key =
camera id, and only the records the service reports failed are tried again.

Batches hold at most 500 records and 5 MiB (data plus partition keys, the service's limits). A
record that fails with ``ProvisionedThroughputExceededException`` is reported throttled, so its
camera backs off. Ordering: a camera's records go out in outbox order; a partial failure makes
the failed record arrive after later records of the same call that succeeded (the price of
retrying only failed records). Consumers order by ``frame_ts`` and de-duplicate by ``event_id``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from kvs_pool.publish.aws import AwsParams, describe_error, make_client
from kvs_pool.publish.base import THROTTLE_CODES, OutboxItem, Outcome

__all__ = ["KinesisParams", "KinesisPublisher", "encode_record"]

log = logging.getLogger(__name__)

MAX_RECORDS = 500
MAX_BATCH_BYTES = 5 * 1024 * 1024
MAX_RECORD_BYTES = 1024 * 1024


@dataclass(frozen=True)
class KinesisParams:
    """One stream to publish to."""

    stream_name: str
    aws: AwsParams = field(default_factory=AwsParams)
    batch_size: int = MAX_RECORDS


def encode_record(item: OutboxItem) -> dict[str, Any]:
    """The ``put_records`` entry for one event (compact JSON, partition key = camera)."""
    data = json.dumps(item.event, separators=(",", ":"), sort_keys=True).encode()
    return {"Data": data, "PartitionKey": item.camera_id}


class KinesisPublisher:
    """Stage-1 publisher writing each event as one record."""

    stage = 1

    def __init__(self, params: KinesisParams, client: Any | None = None) -> None:
        self.params = params
        self.name = f"kinesis:{params.stream_name}"
        self.batch_size = min(max(1, params.batch_size), MAX_RECORDS)
        self.client = client or make_client("kinesis", params.aws)

    def publish(self, items: Sequence[OutboxItem]) -> list[Outcome]:
        """Send ``items`` in as few ``put_records`` calls as the limits allow."""
        outcomes: list[Outcome] = []
        for chunk, records in _chunks(items):
            outcomes.extend(self._put(chunk, records))
        return outcomes

    def _put(self, chunk: list[OutboxItem], records: list[dict[str, Any]]) -> list[Outcome]:
        oversized = [i for i, r in zip(chunk, records) if _size(r) > MAX_RECORD_BYTES]
        if oversized:
            log.error("%s: events %s exceed 1 MiB and cannot be sent to Kinesis", self.name,
                      [i.event_id for i in oversized])
            return [Outcome(i.seq, False, "record exceeds 1 MiB") for i in chunk]
        try:
            resp = self.client.put_records(StreamName=self.params.stream_name, Records=records)
        except Exception as exc:  # botocore errors, connection refused, timeouts
            error, throttled = describe_error(exc)
            return [Outcome(i.seq, False, error, throttled) for i in chunk]
        return [_outcome(item, rec) for item, rec in zip(chunk, resp["Records"])]


def _outcome(item: OutboxItem, rec: dict[str, Any]) -> Outcome:
    code = rec.get("ErrorCode")
    if not code:
        return Outcome(item.seq, True)
    return Outcome(item.seq, False, f"{code}: {rec.get('ErrorMessage', '')}",
                   code in THROTTLE_CODES)


def _size(record: dict[str, Any]) -> int:
    return len(record["Data"]) + len(record["PartitionKey"].encode())


def _chunks(items: Sequence[OutboxItem]
            ) -> Iterator[tuple[list[OutboxItem], list[dict[str, Any]]]]:
    """Split into calls of at most 500 records and 5 MiB."""
    chunk: list[OutboxItem] = []
    records: list[dict[str, Any]] = []
    total = 0
    for item in items:
        record = encode_record(item)
        size = _size(record)
        if chunk and (len(chunk) >= MAX_RECORDS or total + size > MAX_BATCH_BYTES):
            yield chunk, records
            chunk, records, total = [], [], 0
        chunk.append(item)
        records.append(record)
        total += size
    if chunk:
        yield chunk, records
