"""Leases mode: this instance runs the cameras whose DynamoDB lease it holds.

The supervisor calls ``poll()`` every tick; every ``lease_s / 3`` it runs a round: bump its
own heartbeat, read the pool's items (one consistent scan), renew each lease it holds (a
renewal that fails means the lease was stolen: the camera stops), adopt leases still in its
own name after a restart, then take free or expired leases and steal at most one towards a
fair share (``balance.plan_round``). The first takes wait one round, so instances starting
together see each other before sharing out the cameras.

Fencing: an instance that could not renew for ``2/3 x lease_s`` stops all its cameras by
itself, before any other instance can see its leases expire (``lease_s`` of an unchanged
counter on the other instance's clock), so during a DynamoDB outage or a network partition a
camera is never read twice. A stolen lease is read twice at most until the victim's next
round (``lease_s / 3``) plus its decoder's stop.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable

from botocore.exceptions import BotoCoreError, ClientError

from kvs_pool.config import PoolConfig
from kvs_pool.pool.balance import Lease, Observer, plan_round
from kvs_pool.pool.compose import instance_name, subset
from kvs_pool.pool.leases import LeaseTable

__all__ = ["LeaseAssignment", "instance_id"]

log = logging.getLogger(__name__)

_ROUNDS_PER_LEASE = 3
_TABLE_ERRORS = (ClientError, BotoCoreError)


def instance_id(given: str | None) -> str:
    """The instance id: given, else the host name made name-safe (``[A-Za-z0-9_-]``)."""
    if given:
        return given
    host = os.environ.get("HOSTNAME") or os.uname().nodename
    return re.sub(r"[^A-Za-z0-9_-]", "-", host).strip("-_")[:40] or "instance"


class LeaseAssignment:
    """The supervisor's assignment hook in leases mode."""

    def __init__(self, table: LeaseTable, instance: str, lease_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.table, self.instance, self.lease_s, self.clock = table, instance, lease_s, clock
        self.interval = lease_s / _ROUNDS_PER_LEASE
        self.labels: tuple[tuple[str, str], ...] = (("instance", instance),)
        self.observer = Observer(lease_s)
        self.held: dict[str, Lease] = {}
        self.cameras: tuple[str, ...] = ()
        now = clock()
        self.next_round, self.first_take, self.renewed = now, now + self.interval, now
        self._failing = False

    @classmethod
    def start(cls, config: PoolConfig, instance: str | None) -> LeaseAssignment:
        """Check the table (fail now if missing or denied) and register the heartbeat."""
        settings = config.pool.assignment
        instance = instance_id(instance or settings.instance)
        instance_name(config.pool.name, instance)  # fail now if the ring names would be bad
        assert settings.table is not None
        table = LeaseTable(settings.table, config.pool.name, settings.region or config.aws.region,
                           settings.endpoint_url or config.aws.endpoint_url)
        table.check()
        try:
            table.heartbeat(instance)
        except _TABLE_ERRORS as exc:
            raise table.problem(exc) from exc
        self = cls(table, instance, settings.lease_s)
        self.cameras = config.camera_ids
        log.info("leases in %s as instance %s (lease %.1f s)", table.where, instance,
                 settings.lease_s)
        return self

    def select(self, config: PoolConfig) -> PoolConfig:
        """The cameras whose lease this instance holds, as ``<pool>-<instance>``."""
        self.cameras = config.camera_ids
        return subset(config, self.held, self.instance)

    def poll(self) -> bool:
        """Run a round when due; True when the set of held cameras changed."""
        now = self.clock()
        before = set(self.held)
        if now >= self.next_round:
            self.next_round = now + self.interval
            try:
                self.round(now)
                self.renewed, self._failing = now, False
            except _TABLE_ERRORS as exc:
                if not self._failing:
                    log.error("lease table %s: %s (retrying every %.1f s)", self.table.where,
                              exc, self.interval)
                self._failing = True
        self.fence(now)
        return set(self.held) != before

    def round(self, now: float) -> None:
        """Heartbeat, read, renew, then take and steal towards the fair share."""
        self.table.heartbeat(self.instance)
        leases, beats = self.table.scan()
        for instance, counter in beats.items():
            self.observer.update(f"instance#{instance}", counter, now)
        for camera, lease in leases.items():
            self.observer.update(f"lease#{camera}", lease.counter, now)
        self.renew(leases)
        if now < self.first_take:
            return
        live = {self.instance} | {i for i in beats
                                  if not self.observer.stale(f"instance#{i}", now)}
        expired = {c for c in leases if self.observer.stale(f"lease#{c}", now)}
        view = [self.held.get(c) or leases.get(c) or Lease(c) for c in self.cameras]
        decision = plan_round(view, self.instance, live, expired)
        for lease in decision.take:
            self.acquire(lease, "took a free or expired lease" if lease.owner in ("", None)
                         else f"took the expired lease of {lease.owner}")
        if decision.steal is not None:
            self.acquire(decision.steal, f"stole a lease from {decision.steal.owner} "
                         f"(fair share {decision.target})")

    def renew(self, leases: dict[str, Lease]) -> None:
        """Renew what we hold (losing what was stolen); adopt our own leases after a restart."""
        for camera, mine in list(self.held.items()):
            current = leases.get(camera)
            if camera not in self.cameras:
                del self.held[camera]
                self.table.write(mine, "")
                continue
            renewed = self.table.write(mine, self.instance) if current == mine else None
            if renewed is None:
                del self.held[camera]
                log.warning("%s: lease lost to %s; stopping its decoder", camera,
                            current.owner if current else "nobody")
            else:
                self.held[camera] = renewed
        for camera, lease in leases.items():
            if lease.owner == self.instance and camera not in self.held and camera in self.cameras:
                self.acquire(lease, "adopted its own lease after a restart")

    def acquire(self, lease: Lease, why: str) -> None:
        new = self.table.write(lease, self.instance)
        if new is not None:
            self.held[lease.camera] = new
            log.info("%s: %s", lease.camera, why)

    def fence(self, now: float) -> None:
        """Unable to renew for 2/3 of a lease: stop every camera before others take them."""
        if self.held and now - self.renewed > self.lease_s - self.interval:
            log.error("leases not renewed for %.1f s: stopping all %d cameras", now - self.renewed,
                      len(self.held))
            self.held.clear()

    def close(self) -> None:
        """Release our leases and heartbeat so others take the cameras at once."""
        try:
            for lease in list(self.held.values()):
                self.table.write(lease, "")
            self.held.clear()
            self.table.drop_heartbeat(self.instance)
        except _TABLE_ERRORS as exc:
            log.warning("could not release leases in %s: %s (they expire in %.1f s)",
                        self.table.where, exc, self.lease_s)
