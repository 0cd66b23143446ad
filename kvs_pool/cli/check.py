"""`kvs-pool check CONFIG`: validate a config file without starting anything.

Prints ``ok: N cameras, M pipelines`` and exits 0, or every problem on its own line
(``file:key: reason``) on stderr and exits 1. ``--no-files`` skips the existence of local files
(models, class-name lists, file sources), to check a config away from the host it is meant for.
``--aws`` then calls the read-only AWS APIs of every configured stream, Kinesis stream, bucket
and table with the configured credentials (``kvs_pool.cli.aws_check``), one line per resource;
exit 1 if any is missing or unreachable. Endpoints bound beyond loopback are warned about on
stderr (``warning: file:key: reason``) without failing the check.
"""

from __future__ import annotations

import argparse
import sys

from kvs_pool.config import PoolConfig, load_config
from kvs_pool.errors import ConfigError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `check` subcommand."""
    parser = subparsers.add_parser(
        "check", help="validate a config file and list every problem",
        description=__doc__.splitlines()[0])
    parser.add_argument("config", help="path of the YAML config file")
    parser.add_argument("--no-files", action="store_true",
                        help="do not require local files (models, file sources) to exist")
    parser.add_argument("--aws", action="store_true",
                        help="also check that every configured AWS resource exists and is "
                             "reachable with the configured credentials (read-only calls)")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config, check_files=not args.no_files)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        if any(": file not found: " in problem for problem in exc.problems):
            print("hint: files that exist only on the target host are skipped with --no-files",
                  file=sys.stderr)
        return 1
    from kvs_pool.pool.exposure import exposure_warnings
    for key, reason in exposure_warnings(config):
        print(f"warning: {args.config}:{key}: {reason}", file=sys.stderr)
    cameras, pipelines = len(config.cameras), len(config.pipelines)
    note = " (local files not checked)" if args.no_files else ""
    print(f"ok: {cameras} camera{'s' * (cameras != 1)}, "
          f"{pipelines} pipeline{'s' * (pipelines != 1)}{note}")
    return _check_aws(config) if args.aws else 0


def _check_aws(config: PoolConfig) -> int:
    """One line per AWS resource; 1 when any is missing or unreachable."""
    from kvs_pool.cli.aws_check import probes, run_probe
    found = probes(config)
    if not found:
        print("aws: the config names no AWS resource")
        return 0
    results = [run_probe(probe) for probe in found]
    for _, line in results:
        print(line)
    return 0 if all(ok for ok, _ in results) else 1
