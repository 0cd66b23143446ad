"""The DynamoDB lease table: camera leases and instance heartbeats, changed only by
conditional writes.

One table may serve several pools. Items (hash key ``pk``, a string; nothing else is keyed)::

    pk                          kind      pool   owner / instance   counter
    lease#<pool>#<camera>       lease     <pool> owner ("" = free)  bumped by each renewal/take
    instance#<pool>#<instance>  instance  <pool> instance id        bumped by each heartbeat

A lease changes hands only by an ``UpdateItem`` conditioned on the owner and counter read
(``attribute_not_exists(pk)`` for a camera never leased): of two instances racing, one wins,
and an owner whose lease was stolen learns it at its next renewal, whose condition fails.
Create the table with: ``aws dynamodb create-table --table-name NAME --attribute-definitions
AttributeName=pk,AttributeType=S --key-schema AttributeName=pk,KeyType=HASH --billing-mode
PAY_PER_REQUEST``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from kvs_pool.errors import KvsPoolError
from kvs_pool.pool.balance import Lease

__all__ = ["LeaseTable", "LeaseTableError", "IAM_ACTIONS", "create_table"]

log = logging.getLogger(__name__)

IAM_ACTIONS = ("dynamodb:DescribeTable", "dynamodb:Scan", "dynamodb:UpdateItem",
               "dynamodb:DeleteItem")
# Short timeouts and few retries: the supervisor's loop makes these calls.
_CLIENT = Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 2, "mode": "standard"})
_DENIED = {"AccessDeniedException", "UnrecognizedClientException", "AccessDenied"}


class LeaseTableError(KvsPoolError):
    """The lease table is missing, unreachable or not usable by this instance."""


def _client(region: str | None, endpoint_url: str | None) -> Any:
    return boto3.client("dynamodb", region_name=region, endpoint_url=endpoint_url,
                        config=_CLIENT)


def create_table(name: str, region: str | None, endpoint_url: str | None = None) -> None:
    """Create a lease table (tests, benchmarks, a quick start; production uses IaC)."""
    client = _client(region, endpoint_url)
    client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    client.get_waiter("table_exists").wait(TableName=name)


class LeaseTable:
    """Lease and heartbeat items of one pool in one table."""

    def __init__(self, table: str, pool: str, region: str | None,
                 endpoint_url: str | None = None) -> None:
        self.table, self.pool = table, pool
        at = f", {endpoint_url}" if endpoint_url else ""
        self.where = f"{table} ({region or 'default region'}{at})"
        self.client = _client(region, endpoint_url)

    def problem(self, exc: Exception) -> LeaseTableError:
        """An error naming the table and the IAM actions an instance needs."""
        code = exc.response["Error"]["Code"] if isinstance(exc, ClientError) else ""
        if code == "ResourceNotFoundException":
            why = "does not exist: create it with hash key pk (string)"
        elif code in _DENIED:
            why = "is not accessible with these credentials (access denied)"
        else:
            why = f"cannot be used: {exc}"
        return LeaseTableError(f"lease table {self.where} {why}; each instance needs "
                               f"{', '.join(IAM_ACTIONS)} on it")

    def check(self) -> None:
        """Fail now, with an actionable message, if the table is missing or denied."""
        try:
            keys = self.client.describe_table(TableName=self.table)["Table"]["KeySchema"]
        except (ClientError, BotoCoreError) as exc:
            raise self.problem(exc) from exc
        if [(k["AttributeName"], k["KeyType"]) for k in keys] != [("pk", "HASH")]:
            raise LeaseTableError(f"lease table {self.where} must have the single hash key pk "
                                  f"(string); it has {keys}")

    def scan(self) -> tuple[dict[str, Lease], dict[str, int]]:
        """camera -> Lease, and instance -> heartbeat counter, of this pool."""
        leases: dict[str, Lease] = {}
        beats: dict[str, int] = {}
        for item in self._items():
            counter = int(item["counter"]["N"])
            if item["kind"]["S"] == "lease":
                camera = item["camera"]["S"]
                leases[camera] = Lease(camera, item.get("owner", {}).get("S", ""), counter)
            else:
                beats[item["instance"]["S"]] = counter
        return leases, beats

    def _items(self) -> Iterator[dict[str, Any]]:
        pages = self.client.get_paginator("scan").paginate(
            TableName=self.table, ConsistentRead=True, FilterExpression="#p = :p",
            ExpressionAttributeNames={"#p": "pool"},
            ExpressionAttributeValues={":p": {"S": self.pool}})
        for page in pages:
            yield from page.get("Items", [])

    def heartbeat(self, instance: str) -> None:
        """Bump this instance's heartbeat counter (creating its item the first time)."""
        self.client.update_item(
            TableName=self.table, Key={"pk": {"S": f"instance#{self.pool}#{instance}"}},
            UpdateExpression="SET #k = :k, #p = :p, #i = :i ADD #c :one",
            ExpressionAttributeNames={"#k": "kind", "#p": "pool", "#i": "instance",
                                      "#c": "counter"},
            ExpressionAttributeValues={":k": {"S": "instance"}, ":p": {"S": self.pool},
                                       ":i": {"S": instance}, ":one": {"N": "1"}})

    def drop_heartbeat(self, instance: str) -> None:
        self.client.delete_item(TableName=self.table,
                                Key={"pk": {"S": f"instance#{self.pool}#{instance}"}})

    def write(self, lease: Lease, owner: str) -> Lease | None:
        """Move ``lease`` (as read) to ``owner`` with the next counter, if nobody changed it
        meanwhile: renew (owner unchanged), take, steal or release (owner ""). Returns the
        new lease, or None when the condition failed (someone else wrote first)."""
        new = Lease(lease.camera, owner, lease.counter + 1)
        names = {"#o": "owner", "#c": "counter", "#k": "kind", "#p": "pool", "#m": "camera"}
        values = {":o": {"S": owner}, ":n": {"N": str(new.counter)}, ":k": {"S": "lease"},
                  ":p": {"S": self.pool}, ":m": {"S": lease.camera}}
        if lease.counter < 0:
            condition = "attribute_not_exists(pk)"
        else:
            condition = "#o = :old AND #c = :cur"
            values.update({":old": {"S": lease.owner}, ":cur": {"N": str(lease.counter)}})
        try:
            self.client.update_item(
                TableName=self.table, Key={"pk": {"S": f"lease#{self.pool}#{lease.camera}"}},
                UpdateExpression="SET #o = :o, #c = :n, #k = :k, #p = :p, #m = :m",
                ConditionExpression=condition, ExpressionAttributeNames=names,
                ExpressionAttributeValues=values)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise
        return new
