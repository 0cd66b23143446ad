"""S3 publisher: upload the event's JPEG snapshot (and optionally the raw crop) and give the
event its ``snapshot_uri``.

Key: ``<prefix>/<camera_id>/YYYY/MM/DD/HH/<event_id>.jpg`` with the hour of ``frame_ts`` in UTC
(``<event_id>_crop.jpg`` for the crop). The key is a function of the event, so a retry overwrites
the same object: no duplicates. Runs at stage 0; the outbox stores the returned ``snapshot_uri``
in the event before Kinesis and DynamoDB see it. An event without a snapshot passes through
with no URI.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kvs_pool.publish.aws import AwsParams, describe_error, make_client
from kvs_pool.publish.base import OutboxItem, Outcome, publish_each

__all__ = ["S3Params", "S3Publisher", "snapshot_key"]

_METADATA_FIELDS = ("event_id", "camera_id", "pipeline", "class", "score", "type", "frame_ts")


@dataclass(frozen=True)
class S3Params:
    """The bucket, key prefix and whether the raw crop is uploaded too. ``draw_boxes`` is read by
    the worker (``render_snapshot`` or the plain frame), not by the publisher."""

    bucket: str
    prefix: str = "events"
    crop: bool = False
    draw_boxes: bool = True
    aws: AwsParams = field(default_factory=AwsParams)
    batch_size: int = 50


def snapshot_key(prefix: str, event: dict[str, Any], suffix: str = "") -> str:
    """``prefix/camera_id/YYYY/MM/DD/HH/event_id<suffix>.jpg`` (UTC hour of the frame)."""
    ts = event.get("frame_ts") or event.get("detected_ts") or 0.0
    hour = time.strftime("%Y/%m/%d/%H", time.gmtime(float(ts)))
    parts = [p for p in (prefix.strip("/"), event["camera_id"], hour) if p]
    return "/".join(parts) + f"/{event['event_id']}{suffix}.jpg"


class S3Publisher:
    """Stage-0 publisher: one ``put_object`` per snapshot."""

    stage = 0

    def __init__(self, params: S3Params, client: Any | None = None) -> None:
        self.params = params
        self.name = f"s3:{params.bucket}"
        self.batch_size = max(1, params.batch_size)
        self.client = client or make_client("s3", params.aws)

    def publish(self, items: Sequence[OutboxItem]) -> list[Outcome]:
        """Upload each snapshot; a camera's failure holds its later items (``publish_each``)."""
        return publish_each(items, self._upload)

    def _upload(self, item: OutboxItem) -> Outcome:
        if item.snapshot is None:
            return Outcome(item.seq, True)
        try:
            updates = {"snapshot_uri": self._put(item, item.snapshot, "")}
            if self.params.crop and item.crop is not None:
                updates["crop_uri"] = self._put(item, item.crop, "_crop")
        except Exception as exc:  # botocore errors, connection refused, timeouts
            error, throttled = describe_error(exc)
            return Outcome(item.seq, False, error, throttled)
        return Outcome(item.seq, True, updates=updates)

    def _put(self, item: OutboxItem, body: bytes, suffix: str) -> str:
        key = snapshot_key(self.params.prefix, item.event, suffix)
        metadata = {k.replace("_", "-"): _ascii(item.event[k])
                    for k in _METADATA_FIELDS if item.event.get(k) is not None}
        self.client.put_object(Bucket=self.params.bucket, Key=key, Body=body,
                               ContentType="image/jpeg", Metadata=metadata)
        return f"s3://{self.params.bucket}/{key}"


def _ascii(value: Any) -> str:
    """S3 user metadata travels in HTTP headers: ASCII only."""
    return str(value).encode("ascii", "replace").decode()
