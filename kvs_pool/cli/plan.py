"""`kvs-pool plan CONFIG --shards N`: which shard runs each camera, each shard's load and the
/dev/shm its rings take.

The same computation as ``kvs-pool run --shard I/N`` (``kvs_pool.pool.shard.assign``), so the
plan printed is the one the instances will follow. ``--json`` prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from kvs_pool.config import ConfigError, load_config

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `plan` subcommand."""
    parser = subparsers.add_parser(
        "plan", help="print the static assignment of CONFIG's cameras to N shards")
    parser.add_argument("config", metavar="CONFIG", help="the pool's YAML config file")
    parser.add_argument("--shards", type=int, required=True, metavar="N",
                        help="number of shards (pool instances)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    from kvs_pool.pool.shard import assign, shard_loads
    from kvs_pool.pool.sizing import shm_bytes
    if args.shards <= 0:
        raise ConfigError([f"--shards: the shard count must be at least 1 (got {args.shards})"])
    config = load_config(args.config, check_files=False)
    weights = config.pool.assignment.weights
    table = assign(config.camera_ids, args.shards, weights)
    loads = shard_loads(table, args.shards, weights)
    shards = [{"shard": index, "load": loads[index],
               "cameras": [c for c in config.camera_ids if table[c] == index],
               "shm_bytes": shm_bytes(c for c in config.cameras if table[c.id] == index)}
              for index in range(args.shards)]
    mean = sum(loads) / args.shards
    summary = {"pool": config.pool.name, "shards": shards, "cameras": len(table),
               "load_max_over_mean": round(max(loads) / mean, 4) if mean else 0.0}
    if args.json:
        json.dump(summary, sys.stdout, indent=1)
        print()
    else:
        _print_text(summary)
    return 0


def _print_text(summary: dict[str, Any]) -> None:
    print(f"pool {summary['pool']}: {summary['cameras']} cameras over "
          f"{len(summary['shards'])} shards, max/mean load {summary['load_max_over_mean']:.3f}")
    for shard in summary["shards"]:
        print(f"shard {shard['shard']}: load {shard['load']:g}, /dev/shm "
              f"{shard['shm_bytes'] / 2**20:.0f} MiB, {len(shard['cameras'])} cameras: "
              f"{', '.join(shard['cameras']) or '-'}")
