"""`kvs-pool status`: placeholder until its issue lands."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `status` subcommand."""
    parser = subparsers.add_parser("status", help="(not yet implemented)")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    print("kvs-pool status: not implemented yet")
    return 2
