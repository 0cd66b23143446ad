"""`kvs-pool emulate`: placeholder until its issue lands."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `emulate` subcommand."""
    parser = subparsers.add_parser("emulate", help="(not yet implemented)")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    print("kvs-pool emulate: not implemented yet")
    return 2
