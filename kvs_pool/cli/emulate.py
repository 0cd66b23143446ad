"""`kvs-pool emulate`: serve the loopback KVS emulator until SIGTERM/SIGINT.

Prints the endpoint and the exact environment/boto3 settings a client needs (dummy
credentials: boto3 must sign requests, the emulator does not check signatures).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from kvs_pool.errors import ConfigError

if TYPE_CHECKING:
    from kvs_pool.emulator import EmulatorConfig, StreamSpec

__all__ = ["register", "parse_stream"]

_STREAM = re.compile(r"^(?P<name>[A-Za-z0-9_.-]{1,256})"
                     r"(?:=(?P<w>\d+)x(?P<h>\d+)(?:@(?P<fps>\d+(?:\.\d+)?))?(?:/(?P<gop>\d+))?)?$")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `emulate` subcommand."""
    parser = subparsers.add_parser("emulate", help="serve a loopback Kinesis Video Streams "
                                   "emulator (control plane + HLS) with synthetic streams")
    parser.add_argument("--config", type=Path, default=None, metavar="POOL.yaml",
                        help="serve the streams of this pool config's emulator section")
    parser.add_argument("--host", default=None, help="default 127.0.0.1 (or the config's)")
    parser.add_argument("--port", type=int, default=None,
                        help="default 4567 (or the config's); 0: any free port")
    parser.add_argument("--stream", action="append", default=[], metavar="NAME[=WxH[@FPS][/GOP]]",
                        help="a synthetic stream (repeatable; default demo-1=640x360@25/50)")
    parser.add_argument("--file", action="append", default=[], metavar="NAME=PATH",
                        help="a stream looping an H.264 file (MP4/MKV...; remuxed, not re-encoded)")
    parser.add_argument("--session-seconds", type=float, default=None,
                        help="lifetime of HLS sessions (overrides the client's Expires)")
    parser.add_argument("--moto", action="store_true",
                        help="also serve Kinesis/S3/DynamoDB through moto on the same port")
    parser.add_argument("--allow-remote-faults", action="store_true",
                        help="serve /_emulator/ (faults, state) to non-loopback clients too")
    parser.set_defaults(handler=_handle)


def parse_stream(text: str) -> StreamSpec:
    """``NAME[=WxH[@FPS][/GOP]]`` -> StreamSpec; a ConfigError names the bad value."""
    from kvs_pool.emulator import StreamSpec

    match = _STREAM.match(text)
    if not match:
        raise ConfigError([f"--stream {text!r}: expected NAME[=WxH[@FPS][/GOP]], e.g. cam-1=1280x720@25/50"])
    spec = StreamSpec(match["name"])
    if match["w"]:
        fps = float(match["fps"] or spec.fps)
        spec = StreamSpec(match["name"], int(match["w"]), int(match["h"]), fps,
                          int(match["gop"] or max(1, round(2 * fps))))
    return spec


def _file_stream(text: str) -> StreamSpec:
    from kvs_pool.emulator import StreamSpec

    name, sep, path = text.partition("=")
    if not sep or not Path(path).is_file():
        raise ConfigError([f"--file {text!r}: expected NAME=PATH of an existing video file"])
    return StreamSpec(name, file=Path(path))


def _config(args: argparse.Namespace) -> EmulatorConfig:
    """The emulator settings from the pool config (if given) and the command line."""
    from kvs_pool.emulator import EmulatorConfig, from_pool_config

    base = EmulatorConfig(port=4567)
    if args.config is not None:
        from kvs_pool.config import load_config

        base = from_pool_config(load_config(args.config).emulator)
    streams = tuple(parse_stream(s) for s in args.stream) + tuple(_file_stream(f) for f in args.file)
    return dataclasses.replace(
        base, streams=streams or base.streams or (parse_stream("demo-1"),),
        host=args.host or base.host, port=base.port if args.port is None else args.port,
        session_seconds=args.session_seconds, moto=args.moto,
        allow_remote_faults=args.allow_remote_faults or base.allow_remote_faults)


def _handle(args: argparse.Namespace) -> int:
    from kvs_pool.emulator import EmulatorServer

    config = _config(args)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        server = EmulatorServer(config)
        url = server.start()
    except OSError as exc:
        raise ConfigError([f"--port {config.port}: cannot listen on {config.host}: {exc}"]) from exc
    try:
        print(_banner(url, [s.name for s in config.streams]), flush=True)
        _warn_exposure(config)
        stop.wait()
    finally:
        server.stop()
    return 0


def _warn_exposure(config: EmulatorConfig) -> None:
    from kvs_pool.loopback import is_loopback
    if not is_loopback(config.host):
        faults = "too" if config.allow_remote_faults else "refused (--allow-remote-faults)"
        print(f"warning: --host {config.host} is not a loopback address: the emulator is "
              f"reachable from other hosts; its /_emulator/ fault endpoint {faults}",
              file=sys.stderr, flush=True)


def _banner(url: str, names: list[str]) -> str:
    return "\n".join([
        f"KVS emulator serving {', '.join(names)} on {url}",
        "  environment: AWS_ACCESS_KEY_ID=emulator AWS_SECRET_ACCESS_KEY=emulator "
        "AWS_DEFAULT_REGION=us-east-1",
        f"  boto3: boto3.client('kinesisvideo', endpoint_url='{url}', region_name='us-east-1')",
        f"  pool config: source: {{kvs: {{stream_name: {names[0]}, endpoint_url: '{url}'}}}}",
        f"  faults: curl -X POST {url}/_emulator/faults -d '{{\"fault\": \"expire_sessions\"}}'",
        f"  state: curl {url}/_emulator/state",
        "Ctrl-C or SIGTERM stops it."])
