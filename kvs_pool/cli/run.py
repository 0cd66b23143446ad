"""`kvs-pool run CONFIG`: load the config and run the pool in the foreground until SIGTERM."""

from __future__ import annotations

import argparse

from kvs_pool.config import load_config

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `run` subcommand."""
    parser = subparsers.add_parser(
        "run", help="run the pool described by CONFIG (SIGHUP reloads it, SIGTERM stops it)")
    parser.add_argument("config", metavar="CONFIG", help="the pool's YAML config file")
    parser.add_argument("--kill-grace", type=float, default=5.0, metavar="S",
                        help="seconds a hung or retiring worker gets after SIGTERM (default 5)")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    from kvs_pool.supervisor import Arbiter, RunOptions  # keep `kvs-pool --help` light
    config = load_config(args.config)
    options = RunOptions(config_path=args.config, log_level=args.log_level,
                         log_format=args.log_format, kill_grace_s=args.kill_grace)
    return Arbiter(config, options).run()
