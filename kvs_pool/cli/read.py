"""``kvs-pool read``: read one stream with the pool's own source classes, before any pool config
exists ("can it read *my* stream?"). No ring, no supervisor: frames are decoded, counted,
optionally saved as JPEG, and a status line is printed once a second::

    kvs-pool read --stream-name front-door --region eu-west-1
    kvs-pool read --url rtsp://cam.local/stream1 --target-fps 2 --save /tmp/frames

Ctrl-C (or SIGTERM) stops it cleanly with a summary. Errors the user can act on (no
credentials, unknown stream, access denied) end it with one line and exit 1; errors the source
retries by itself (no fragments yet, network) show in the status line.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any, TextIO, TypeAlias

from kvs_pool.errors import FrameSourceError, KvsPoolError
from kvs_pool.sources import SourceControl, SourceState, SourceStats

__all__ = ["register", "run_read", "StatusLine"]

_STATES = {int(s): s.name.lower() for s in SourceState}
_READ_MAX_ERRORS = 3          # a CLI gives up sooner than a supervised camera
# a signal's disposition, as signal.signal takes and returns it (SIG_DFL and SIG_IGN are ints)
_Handler: TypeAlias = Callable[[int, FrameType | None], Any] | int | None


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``read`` subcommand."""
    parser = subparsers.add_parser(
        "read", help="read one stream (KVS or URL) and print its status once a second",
        description="Read one stream with the pool's source classes (no ring, no supervisor).")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--stream-name", help="Kinesis Video Stream name")
    what.add_argument("--url", help="rtsp://, http(s):// HLS or a file path")
    parser.add_argument("--region", help="AWS region of the stream (default: boto3's chain)")
    parser.add_argument("--endpoint-url", help="KVS endpoint (e.g. the emulator's URL)")
    parser.add_argument("--profile", help="AWS profile (default: boto3's chain)")
    parser.add_argument("--target-fps", type=_positive, help="deliver at most this many fps")
    parser.add_argument("--max-frames", type=int, help="stop after this many frames")
    parser.add_argument("--save", type=Path, metavar="DIR", help="write frames here as JPEG")
    parser.add_argument("--save-every", type=int, default=1, metavar="N",
                        help="with --save: write every Nth frame (default 1)")
    parser.add_argument("--metrics-port", type=int, metavar="P",
                        help="serve the six kvs_hls_* metrics on 127.0.0.1:P/metrics")
    parser.set_defaults(handler=run_read)


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0 (got {text})")
    return value


def run_read(args: argparse.Namespace) -> int:
    """Read until Ctrl-C, ``--max-frames`` or a fatal error; print a summary."""
    control = SourceControl()
    source = _open_source(args, control)
    saver = _FrameSaver(args.save, args.save_every) if args.save else None
    line = StatusLine(source.stats, sys.stdout)
    stoppers = _stop_on_signals(control.stop)
    server = _serve_metrics(args.metrics_port, source) if args.metrics_port is not None else None
    ticker = threading.Thread(target=line.every_second, args=(control.stop,), daemon=True)
    ticker.start()
    try:
        _consume(source, args.max_frames, saver)
    except FrameSourceError as exc:
        raise KvsPoolError(str(exc)) from None
    finally:
        control.stop.set()
        ticker.join(timeout=2.0)
        source.close()
        _restore(stoppers)
        if server is not None:
            server.shutdown()
        line.summary(saver.written if saver else 0)
    return 0


def _consume(source: Any, max_frames: int | None, saver: _FrameSaver | None) -> None:
    for count, (frame, _ts) in enumerate(source.read_frames(), start=1):
        if saver is not None:
            saver.offer(count, frame)
        if max_frames is not None and count >= max_frames:
            break


def _open_source(args: argparse.Namespace, control: SourceControl) -> Any:
    """The pool's own source for ``--url`` or ``--stream-name``."""
    if args.url:
        from kvs_pool.sources.url import URLFrameSource, URLSourceOptions
        options = URLSourceOptions(target_fps=args.target_fps,
                                   max_consecutive_errors=_READ_MAX_ERRORS)
        return URLFrameSource(args.url, options, control)
    _require_credentials(args.profile, args.endpoint_url)
    from kvs_pool.sources.kvs_hls import KVSHLSFrameSource
    return KVSHLSFrameSource(
        args.stream_name, args.stream_name, args.region, control=control,
        endpoint_url=args.endpoint_url, profile=args.profile, target_fps=args.target_fps,
        max_consecutive_errors=_READ_MAX_ERRORS)


def _require_credentials(profile: str | None, endpoint_url: str | None) -> None:
    """Fail with one line when boto3's chain finds no credentials (KVS calls are signed)."""
    import boto3
    from botocore.exceptions import BotoCoreError
    try:
        found = boto3.Session(profile_name=profile).get_credentials()
    except BotoCoreError as exc:
        raise KvsPoolError(f"AWS credentials: {exc}") from None
    if found is None:
        hint = " (any values work against the emulator)" if endpoint_url else ""
        raise KvsPoolError("no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                           f"AWS_SECRET_ACCESS_KEY, or run where an instance role applies{hint}")


class StatusLine:
    """Prints one line a second from a source's live ``SourceStats``, and the final summary."""

    def __init__(self, stats: SourceStats, out: TextIO, clock: Any = time.monotonic) -> None:
        self.stats, self.out, self.clock = stats, out, clock
        self.started = clock()
        self._last = (self.started, 0)

    def render(self, now_mono: float, now_wall: float) -> str:
        """``fps 25.0 | connected | frame 12:00:01.240Z lag 1.92 s | refreshes 0 | errors 0``."""
        then, frames = self._last
        fps = (self.stats.frames - frames) / max(now_mono - then, 1e-6)
        self._last = (now_mono, self.stats.frames)
        parts = [f"fps {fps:5.1f}", _STATES.get(int(self.stats.state), str(self.stats.state)),
                 _frame_part(self.stats.last_frame_wall, now_wall),
                 f"refreshes {self.stats.url_refreshes}",
                 f"errors {self.stats.read_errors}"]
        if self.stats.last_error and self.stats.frames == 0:
            parts.append(f"waiting: {self.stats.last_error}")
        return " | ".join(parts)

    def every_second(self, stop: threading.Event) -> None:
        while not stop.wait(1.0):
            print(self.render(self.clock(), time.time()), file=self.out, flush=True)

    def summary(self, saved: int) -> None:
        elapsed = self.clock() - self.started
        s = self.stats
        print(f"read {s.frames} frames in {elapsed:.1f} s ({s.frames / max(elapsed, 1e-6):.1f} "
              f"fps), {s.reconnects} reconnects, {s.url_refreshes} URL refreshes, "
              f"{s.read_errors} errors, {saved} saved", file=self.out, flush=True)


def _frame_part(capture_ts: float | None, now_wall: float) -> str:
    if capture_ts is None:
        return "no frame yet"
    clock = time.strftime("%H:%M:%S", time.gmtime(capture_ts))
    return f"frame {clock}.{int(capture_ts % 1 * 1000):03d}Z lag {now_wall - capture_ts:.2f} s"


class _FrameSaver:
    """Writes every Nth frame as ``frame-<n>.jpg`` into a directory."""

    def __init__(self, directory: Path, every: int) -> None:
        if every < 1:
            raise KvsPoolError(f"--save-every must be >= 1 (got {every})")
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise KvsPoolError(f"--save {directory}: {exc.strerror}") from None
        self.directory, self.every, self.written = directory, every, 0

    def offer(self, count: int, frame: Any) -> None:
        if (count - 1) % self.every:
            return
        import cv2
        path = self.directory / f"frame-{count:06d}.jpg"
        if not cv2.imwrite(str(path), frame):
            raise KvsPoolError(f"--save: could not write {path}")
        self.written += 1


def _stop_on_signals(stop: threading.Event) -> dict[int, _Handler]:
    """SIGINT/SIGTERM set ``stop`` (the source ends its generator cleanly)."""
    previous: dict[int, _Handler] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, lambda *_: stop.set())
    return previous


def _restore(previous: dict[int, _Handler]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def _serve_metrics(port: int, source: Any) -> Any:
    """The six ``kvs_hls_*`` metrics of this one source on 127.0.0.1:port."""
    from prometheus_client import CollectorRegistry, start_http_server
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SourceCollector(source))
    try:
        server, _thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    except OSError as exc:
        raise KvsPoolError(f"--metrics-port {port}: {exc.strerror}") from None
    return server


class _SourceCollector:
    """A Prometheus collector over one source's ``SourceStats`` (label ``camera_id``)."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
        s, labels = self.source.stats, [self.source.camera_id]
        for name, value, doc in (
                ("kvs_hls_reconnects", s.reconnects, "Reconnections of the source"),
                ("kvs_hls_frames", s.frames, "Frames decoded and delivered"),
                ("kvs_hls_url_refreshes", s.url_refreshes, "HLS session URL refreshes"),
                ("kvs_hls_read_errors", s.read_errors, "Failed reads/opens of the source")):
            family = CounterMetricFamily(name, doc, labels=["camera_id"])
            family.add_metric(labels, value)
            yield family
        for name, value, doc in (
                ("kvs_hls_last_frame_timestamp", s.last_frame_wall or 0.0,
                 "Capture time (Unix s) of the last frame"),
                ("kvs_hls_connection_state", int(s.state),
                 "0 disconnected, 1 connecting, 2 connected, 3 reconnecting, 4 error")):
            gauge = GaugeMetricFamily(name, doc, labels=["camera_id"])
            gauge.add_metric(labels, value)
            yield gauge
