"""`kvs-pool run CONFIG`: load the config and run the pool in the foreground until SIGTERM.

The state directory (and its ``stats/``) is created 0700 before anything starts. An ``OSError``
(a directory that cannot be created, a port already bound, a file refused) is printed as one
line naming the path and the reason, exit 1; ``--log-level debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from kvs_pool.config import ConfigError, load_config
from kvs_pool.private_files import private_dir

__all__ = ["register"]

log = logging.getLogger(__name__)

METRICS_PORT_ENV = "KVS_POOL_METRICS_PORT"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `run` subcommand."""
    parser = subparsers.add_parser(
        "run", help="run the pool described by CONFIG (SIGHUP reloads it, SIGTERM stops it)")
    parser.add_argument("config", metavar="CONFIG", help="the pool's YAML config file")
    parser.add_argument("--kill-grace", type=float, default=5.0, metavar="S",
                        help="seconds a hung or retiring worker gets after SIGTERM (default 5)")
    parser.add_argument("--shard", default=None, metavar="I/N",
                        help="run only shard I of N (rendezvous hashing of camera ids); "
                             "auto/N takes I from the host name's -<ordinal> (StatefulSet); "
                             "default: $KVS_POOL_SHARD or pool.assignment.shard")
    parser.add_argument("--instance", default=None, metavar="ID",
                        help="leases mode: this instance's id (default: $KVS_POOL_INSTANCE, "
                             "pool.assignment.instance, then the host name)")
    parser.add_argument("--metrics-port", type=int, default=None, metavar="PORT",
                        help="override pool.metrics.port (default: $KVS_POOL_METRICS_PORT)")
    parser.set_defaults(handler=_handle)


def _metrics_port(port: int | None) -> int | None:
    """``--metrics-port``, else ``$KVS_POOL_METRICS_PORT``, else None (the config's)."""
    if port is not None or not os.environ.get(METRICS_PORT_ENV):
        return port
    text = os.environ[METRICS_PORT_ENV]
    if not text.isdigit() or int(text) > 65535:
        raise ConfigError([f"{METRICS_PORT_ENV}: {text!r} is not a port number (0-65535)"])
    return int(text)


def _handle(args: argparse.Namespace) -> int:
    from kvs_pool.pool import assignment_from
    from kvs_pool.pool.overrides import PortOverride
    from kvs_pool.pool.runtime import PoolOptions, pool_arbiter  # keep `kvs-pool --help` light
    from kvs_pool.supervisor import RunOptions
    config = load_config(args.config)
    port = _metrics_port(args.metrics_port)
    assignment = assignment_from(config, args.shard, args.instance)
    if port is not None:  # re-applied on each reload, like the assignment
        assignment = PortOverride(assignment, port)
    options = RunOptions(log_level=args.log_level, log_format=args.log_format,
                         kill_grace_s=args.kill_grace)
    pool_options = PoolOptions(config_path=args.config, assignment=assignment)
    try:
        private_dir(os.path.join(str(config.pool.state_dir), "stats"))
        return pool_arbiter(config, pool_options, options).run()
    except OSError as exc:
        log.debug("run failed", exc_info=True)
        print(f"kvs-pool run: {describe_os_error(exc)}", file=sys.stderr)
        return 1


def describe_os_error(exc: OSError) -> str:
    """``path: reason`` (or ``path -> other: reason``) of an OSError, on one line."""
    reason = exc.strerror or str(exc)
    if exc.filename is None:
        return reason
    if exc.filename2 is not None:
        return f"{exc.filename} -> {exc.filename2}: {reason}"
    return f"{exc.filename}: {reason}"
