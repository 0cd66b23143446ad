"""Benchmark how cameras spread over pool instances: static sharding's balance and movement,
and leases mode's failover against a moto DynamoDB with real instances.

    python benchmarks/shard.py [--quick] [--static-only]

Static (pure computation, ``kvs_pool.pool.shard.assign``), 1,000 cameras ``cam-0000..`` over
10 shards:

* ``load_max_over_mean``: the busiest shard's load over the mean, next to plain rendezvous
  hashing (no load bound) and ``blake2b(id) mod N`` as same-run baselines;
* ``moved_share_grow`` / ``moved_share_shrink``: the share of cameras whose shard changes going
  10 -> 11 and 10 -> 9 shards, next to the ideal 1/11 and 1/10 and to ``mod N`` (which moves
  most of them).

Leases (``--static-only`` skips it): a moto server with 3 real ``kvs-pool run`` instances in
leases mode over 30 emulator cameras (``--quick``: 12). After ``kill -9`` of one instance's
supervisor, ``failover_s`` is the time until every camera it held delivers frames in another
instance's ring; ``double_read_camera_s`` sums, over cameras, the seconds two instances' rings
of the same camera both advanced (sampled every 0.2 s); ``rebalance_s`` is the time from the
instance's return until every instance holds its fair share. ``lease_s`` is the lease period.

Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Callable, Sequence

from kvs_pool.pool.shard import assign, shard_loads

Table = Callable[[Sequence[str], int], dict[str, int]]


def _modulo(cameras: Sequence[str], count: int) -> dict[str, int]:
    return {c: int.from_bytes(hashlib.blake2b(c.encode(), digest_size=8).digest(), "big") % count
            for c in cameras}


def _plain(cameras: Sequence[str], count: int) -> dict[str, int]:
    return assign(cameras, count, slack=None)


def _bounded(cameras: Sequence[str], count: int) -> dict[str, int]:
    return assign(cameras, count)


def _figures(table: Table, cameras: Sequence[str], shards: int) -> dict[str, float]:
    base = table(cameras, shards)
    loads = shard_loads(base, shards)
    moved = {}
    for name, count in (("grow", shards + 1), ("shrink", shards - 1)):
        other = table(cameras, count)
        moved[name] = sum(base[c] != other[c] for c in cameras) / len(cameras)
    return {"load_max_over_mean": max(loads) / (sum(loads) / shards),
            "moved_share_grow": moved["grow"], "moved_share_shrink": moved["shrink"]}


def static_part(cameras: int = 1000, shards: int = 10) -> dict[str, float]:
    """Print the static figures next to their baselines; return ours."""
    ids = [f"cam-{i:04d}" for i in range(cameras)]
    rows = {"bounded rendezvous (ours)": _figures(_bounded, ids, shards),
            "plain rendezvous": _figures(_plain, ids, shards),
            "blake2b mod N": _figures(_modulo, ids, shards)}
    print(f"static: {cameras} cameras over {shards} shards")
    print(f"  {'':28} {'max/mean':>9} {'moved +1':>9} {'moved -1':>9}")
    for name, row in rows.items():
        print(f"  {name:28} {row['load_max_over_mean']:9.3f} {row['moved_share_grow']:9.3f} "
              f"{row['moved_share_shrink']:9.3f}")
    print(f"  {'ideal':28} {1.0:9.3f} {1 / (shards + 1):9.3f} {1 / shards:9.3f}")
    ours = rows["bounded rendezvous (ours)"]
    ours["moved_share_ideal_grow"] = 1 / (shards + 1)
    ours["moved_share_ideal_shrink"] = 1 / shards
    return ours


def leases_part(quick: bool) -> dict[str, float | None]:
    """Leases failover figures, measured with real instances (``shard_leases``)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from shard_leases import run_leases
    return run_leases(quick)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer cameras in the leases part")
    parser.add_argument("--static-only", action="store_true", help="skip the leases part")
    args = parser.parse_args(argv)
    figures: dict[str, float | None] = {k: round(v, 4) for k, v in static_part().items()}
    if not args.static_only:
        figures.update(leases_part(args.quick))
    print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
