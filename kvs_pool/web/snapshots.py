"""Event snapshots for the page: the JPEG an S3 publisher stored for an event, read back.

An event "has a snapshot" when an ``s3`` publisher uploaded it and set its ``snapshot_uri``
(``s3://<bucket>/<key>``; later-stage publishers such as ``jsonl`` record the URI). The page
asks ``/api/events/<event_id>/snapshot.jpg``; this module fetches the object with the S3
publisher's own client settings (region, endpoint, profile: built by the publish factory, so
credentials come from boto3's chain as for publishing), only from a bucket the config
publishes to, and keeps the last ``_KEEP`` snapshots in memory so a page refresh costs no
S3 request.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

__all__ = ["SnapshotStore", "SnapshotError", "s3_location"]

log = logging.getLogger(__name__)

_KEEP = 64
_MAX_BYTES = 8 * 1024 * 1024


class SnapshotError(Exception):
    """The snapshot cannot be served (message names the URI and the reason)."""


def s3_location(uri: Any) -> tuple[str, str] | None:
    """``(bucket, key)`` of an ``s3://bucket/key`` URI, else None."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        return None
    bucket, _, key = uri[len("s3://"):].partition("/")
    return (bucket, key) if bucket and key else None


class SnapshotStore:
    """Reads snapshots from the buckets of the config's S3 publishers (clients made once)."""

    def __init__(self, config: Callable[[], Any]) -> None:
        self._config = config
        self._clients: dict[str, Any] = {}
        self._built_from: Any = None      # the config the clients were made from
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, uri: str) -> bytes:
        """The JPEG at ``uri``; raises ``SnapshotError``."""
        with self._lock:
            if uri in self._cache:
                self._cache.move_to_end(uri)
                return self._cache[uri]
        data = self._fetch(uri)
        with self._lock:
            self._cache[uri] = data
            while len(self._cache) > _KEEP:
                self._cache.popitem(last=False)
        return data

    def _fetch(self, uri: str) -> bytes:
        where = s3_location(uri)
        client = self._client_for(where[0]) if where else None
        if where is None or client is None:
            raise SnapshotError(f"{uri}: not in a bucket this pool publishes to")
        try:
            obj = client.get_object(Bucket=where[0], Key=where[1])
            if int(obj.get("ContentLength") or 0) > _MAX_BYTES:
                raise SnapshotError(f"{uri}: larger than {_MAX_BYTES} bytes")
            body: bytes = obj["Body"].read()   # boto3 is untyped: a StreamingBody's bytes
            return body
        except SnapshotError:
            raise
        except Exception as exc:  # botocore errors, refused connections, timeouts
            from kvs_pool.publish.aws import describe_error
            raise SnapshotError(f"{uri}: {describe_error(exc)[0]}") from None

    def _client_for(self, bucket: str) -> Any | None:
        config = self._config()
        with self._lock:
            if config is not self._built_from:  # first use, or a reload replaced the config
                self._clients, self._built_from = _s3_clients(config), config
            return self._clients.get(bucket)


def _s3_clients(config: Any) -> dict[str, Any]:
    """Bucket -> boto3 client, from the config's S3 publishers (the publish factory's own)."""
    s3 = [pub for pipe in getattr(config, "pipelines", ()) for pub in pipe.publishers
          if getattr(pub, "type", None) == "s3"]
    if not s3:
        return {}
    from kvs_pool.publish.factory import build_publisher
    from kvs_pool.publish.s3 import S3Publisher
    from kvs_pool.workers.params import publisher_params
    clients = {}
    for pub in s3:
        try:
            built = build_publisher(publisher_params(pub, getattr(config, "aws", None)))
        except Exception as exc:  # noqa: BLE001 - a bad publisher only loses its snapshots
            log.warning("no snapshots from s3 bucket %s: %s", getattr(pub, "bucket", "?"), exc)
            continue
        if isinstance(built, S3Publisher):   # what an "s3" publisher's params build
            clients[built.params.bucket] = built.client
    return clients
