"""Composition of a pool: its run wiring, and which cameras one instance among several runs.

``shard`` (rendezvous hashing, ``I/N`` parsing), ``static`` (static mode's assignment),
``leases`` (the DynamoDB lease table), ``balance`` (pure lease decisions), ``leasing`` (leases
mode's assignment), ``compose`` (a config reduced to one instance's cameras and names),
``overrides`` (command-line values re-applied on reload), ``choose`` (the assignment for
``kvs-pool run``), ``sizing`` (/dev/shm per instance), ``observe`` (who reads which camera on
this host). The run wiring above the generic supervisor: ``runtime`` (the ``PoolHooks``: the
``Assignment`` hook, rings, emulator, metrics, state file), ``specs`` (worker specs from the
config), ``heartbeats`` (the heartbeat rule per kind of worker), ``rings``, ``emulator``,
``statefile``, ``exposure``. Guide: docs/scale-out.md.
"""

from kvs_pool.pool.choose import assignment_from
from kvs_pool.pool.compose import subset
from kvs_pool.pool.shard import Shard, assign, parse_shard, shard_loads
from kvs_pool.pool.static import StaticAssignment

__all__ = ["assignment_from", "subset", "Shard", "assign", "parse_shard", "shard_loads",
           "StaticAssignment"]
