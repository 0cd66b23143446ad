"""The ``pool.assignment`` section: which cameras of the config this instance runs.

``mode: all`` (the default) runs every camera. ``mode: static`` runs the cameras that
rendezvous hashing gives to shard ``I`` of ``N`` (``shard: "I/N"`` or ``"auto/N"``, usually
given on the command line instead: ``--shard`` or ``KVS_POOL_SHARD``). ``mode: leases`` runs the
cameras whose lease this instance holds in the DynamoDB table ``table`` (see
``kvs_pool.pool``). ``weights`` gives a camera a load other than 1 (a 4K camera costs more).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from kvs_pool.config.camera import valid_endpoint, valid_region
from kvs_pool.config.schema import greater_than, matches, setting

__all__ = ["AssignmentConfig"]

_TABLE = r"[a-zA-Z0-9_.-]{3,255}"
_SHARD = r"(\d+|auto)/\d+"


@dataclass(frozen=True, kw_only=True)
class AssignmentConfig:
    """How cameras are spread over pool instances."""

    mode: Literal["all", "static", "leases"] = "all"
    shard: str | None = setting(None, check=matches(_SHARD, 'a shard "I/N" or "auto/N"'),
                                doc="static mode: this instance's shard (CLI --shard wins)")
    table: str | None = setting(None, check=matches(_TABLE, "a DynamoDB table name"),
                                doc="leases mode: the DynamoDB lease table")
    lease_s: float = setting(10.0, check=greater_than(1),
                             doc="leases mode: a lease not renewed for this long is expired")
    instance: str | None = setting(None, check=matches(r"[A-Za-z0-9][A-Za-z0-9_-]{0,47}",
                                                       "an instance id (letters, digits, _ -)"),
                                   doc="leases mode: this instance's id (default: host name)")
    region: str | None = setting(None, check=valid_region, doc="leases table region")
    endpoint_url: str | None = setting(None, check=valid_endpoint, doc="leases table endpoint")
    weights: dict[str, float] = setting(factory=dict, doc="camera id -> load weight (default 1)")

    def validate(self) -> Iterator[tuple[str, str]]:
        if self.mode == "leases" and not self.table:
            yield "table", "leases mode needs the DynamoDB lease table's name"
        for camera_id, weight in self.weights.items():
            if weight <= 0:
                yield f"weights.{camera_id}", f"must be greater than 0 (got {weight:g})"
