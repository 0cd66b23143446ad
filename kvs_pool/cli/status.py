"""`kvs-pool status [CONFIG | --pool NAME]`: a table of a running pool's cameras.

Read from the rings (state, fps, frames, last frame age: the decoder's header) and from the
supervisor's state file ``<state_dir>/supervisor.json`` (restarts, backoff, last exit); works
while the pool runs, as any user allowed to read its rings. Without the state file, restarts
fall back to the ring's count of decoder starts. A ring whose decoder is gone reads
disconnected at 0 fps (``metrics.liveness``); a state file whose supervisor is gone (killed) or
stopped says so first, and its workers are not shown "up". The document (``--json``) is
``kvs_pool.metrics.status_doc``'s, the one ``GET /api/status`` serves; this module finds the
pool, formats and prints.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from kvs_pool.errors import KvsPoolError
from kvs_pool.metrics.status_doc import status_document
from kvs_pool.ring.layout import NAME_PREFIX
from kvs_pool.ring.segment import SHM_DIR

__all__ = ["register", "format_table", "format_workers"]

_COLUMNS = ("CAMERA", "STATE", "FPS", "FRAMES", "RESTARTS", "LAST FRAME", "DECODER")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `status` subcommand."""
    parser = subparsers.add_parser("status", help="show the cameras of a running pool")
    parser.add_argument("config", metavar="CONFIG", nargs="?", help="the pool's config file")
    parser.add_argument("--pool", metavar="NAME", help="pool name (instead of CONFIG)")
    parser.add_argument("--state-dir", metavar="DIR",
                        help="the pool's state_dir (default: from CONFIG, else ./var/<pool>)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--shard", metavar="I/N", help="with CONFIG: the instance running shard "
                        "I of N (docs/scale-out.md)")
    parser.add_argument("--instance", metavar="ID", help="with CONFIG: the leases-mode instance ID")
    parser.set_defaults(handler=_handle)


def _target(args: argparse.Namespace) -> tuple[str, str, list[str]]:
    """Pool name, state dir and camera ids the user asked about."""
    if args.config:
        from kvs_pool.config import load_config
        config = load_config(args.config, check_files=False)
        if args.shard or args.instance:
            return _instance_target(config, args)
        return (config.pool.name, args.state_dir or str(config.pool.state_dir),
                list(config.camera_ids))
    if not args.pool:
        raise KvsPoolError("give the pool's CONFIG file or --pool NAME")
    return args.pool, args.state_dir or os.path.join("var", args.pool), _cameras_in_shm(args.pool)


def _cameras_in_shm(pool: str) -> list[str]:
    """Camera ids of the pool's rings (no camera id has a '.': telemetry pages are left out)."""
    prefix = f"{NAME_PREFIX}.{pool}."
    return sorted(e[len(prefix):] for e in os.listdir(SHM_DIR)
                  if e.startswith(prefix) and "." not in e[len(prefix):])


def _instance_target(config: Any, args: argparse.Namespace) -> tuple[str, str, list[str]]:
    """One instance of a sharded pool: ``<pool>-<tag>``, ``<state_dir>/<tag>``."""
    from kvs_pool.pool import StaticAssignment, parse_shard
    from kvs_pool.pool.compose import instance_name
    if args.shard:
        part = StaticAssignment(parse_shard(args.shard)).select(config)
        return part.pool.name, str(part.pool.state_dir), list(part.camera_ids)
    pool = instance_name(config.pool.name, args.instance)
    return pool, os.path.join(str(config.pool.state_dir), args.instance), _cameras_in_shm(pool)


def _age(seconds: float) -> str:
    if seconds == float("inf"):
        return "never"
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.0f}m"


def _decoder_cell(row: dict[str, Any]) -> str:
    if "up" not in row:
        return f"pid {row['pid']}" if row.get("pid") else "-"
    return _worker_cell(row)


def _worker_cell(w: dict[str, Any]) -> str:
    if w["up"]:
        return "up"
    if w["backoff_s"] is None:  # its supervisor is gone: no restart is coming
        return "down (supervisor gone)"
    return f"down, retry in {w['backoff_s']:.0f}s ({w['last_exit']})"


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows as an aligned text table."""
    cells = [_COLUMNS]
    for r in rows:
        if not r["running"]:
            cells.append((r["camera_id"], "no ring", "-", "-", "-", "-", _decoder_cell(r)))
            continue
        cells.append((r["camera_id"], r["state"], f"{r['fps']:.1f}", str(r["frames"]),
                      str(r.get("restarts", 0)), _age(r["last_frame_age"]), _decoder_cell(r)))
    widths = [max(len(row[i]) for row in cells) for i in range(len(_COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()
                     for row in cells)


def format_workers(state: dict[str, Any] | None) -> str:
    """The non-decoder workers (inference...) of the state file as a table, or ''."""
    others = [w for w in (state or {}).get("workers", []) if w.get("kind") != "decoder"]
    if not others:
        return ""
    cells = [("WORKER", "KIND", "STATE", "RESTARTS")]
    for w in others:
        cells.append((w["name"], w["kind"], _worker_cell(w), str(w["restarts"])))
    widths = [max(len(row[i]) for row in cells) for i in range(4)]
    return "\n".join("  ".join(c.ljust(n) for c, n in zip(row, widths)).rstrip()
                     for row in cells)


def _supervisor_line(pool: str, state: dict[str, Any] | None) -> tuple[str, str]:
    """(``running``/``stopped``/``gone``/``unknown``, a line to print first or '')."""
    from kvs_pool.pool.statefile import supervisor_state
    if state is None:
        return "unknown", ""
    verdict, pid = supervisor_state(state), state.get("pid")
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(state.get("updated") or 0)))
    if verdict == "stopped":
        return verdict, f"pool {pool} stopped (clean stop at {when})"
    if verdict == "gone":
        return verdict, (f"pool {pool} is not running: its supervisor (pid {pid}) is gone "
                         f"(killed?); its last state, at {when}:")
    return verdict, ""


def _without_supervisor(state: dict[str, Any]) -> dict[str, Any]:
    """The state file of a dead supervisor: none of its workers can still be up."""
    workers = [{**w, "up": False, "backoff_s": None} for w in state.get("workers", [])]
    return {**state, "workers": workers}


def _handle(args: argparse.Namespace) -> int:
    from kvs_pool.pool.statefile import read_state
    pool, state_dir, cameras = _target(args)
    state = read_state(state_dir)
    verdict, line = _supervisor_line(pool, state)
    if state is not None and verdict == "gone":
        state = _without_supervisor(state)
    if verdict == "stopped":
        print(f"kvs-pool status: {line}")
        return 1
    if not cameras:
        print(f"kvs-pool status: pool {pool!r} has no rings: is it running on this host?",
              file=sys.stderr)
        return 1
    if line:
        print(line, file=sys.stderr if args.json else sys.stdout)
    doc = status_document(pool, state, cameras)
    rows = doc["cameras"]
    if args.json:
        print(json.dumps(doc, default=str, indent=1))
    else:
        print(format_table(rows))
        workers = format_workers(state)
        if workers:
            print("\n" + workers)
    return 0 if verdict != "gone" and any(r["running"] for r in rows) else 1
