"""The ``kvs-pool`` command: parse arguments, hand over to one subcommand module.

Each subcommand lives in its own module exposing ``register(subparsers)``, which adds its
parser and sets ``handler`` (a function taking the parsed namespace, returning an exit code).
Any ``KvsPoolError`` is printed as one plain message (exit 1), never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from kvs_pool import __version__
from kvs_pool.errors import KvsPoolError
from kvs_pool.logs import configure

__all__ = ["main", "build_parser"]

_SUBCOMMANDS = ("run", "check", "status", "emulate", "model", "read", "plan")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="kvs-pool",
        description="Decode many camera streams once each into shared-memory rings; detect; publish.")
    parser.add_argument("--version", action="version", version=f"kvs-pool {__version__}")
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    parser.add_argument("--log-level", default="info",
                        choices=("debug", "info", "warning", "error"))
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _SUBCOMMANDS:
        importlib.import_module(f"kvs_pool.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    args = build_parser().parse_args(argv)
    configure(args.log_level, args.log_format)
    try:
        return int(args.handler(args) or 0)
    except KvsPoolError as exc:
        print(f"kvs-pool {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
