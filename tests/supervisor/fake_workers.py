"""Worker entry points for the arbiter's in-process tests (``fn(payload, stop) -> code``)."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path


def stubborn(payload: str, stop: threading.Event) -> int:
    """Ignores SIGTERM (then creates the file ``payload``): only SIGKILL ends it."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    Path(payload).touch()
    while True:
        time.sleep(1)


def exit_with(payload: int, stop: threading.Event) -> int:
    """Exits with ``payload`` at once."""
    return payload


def obedient(payload: object, stop: threading.Event) -> int:
    """Runs until SIGTERM, then exits 0."""
    stop.wait()
    return 0


def beats_then_exits(payload: tuple, stop: threading.Event) -> int:
    """A decoder-like worker: ``payload`` = (pool, camera_id, beat_s, linger_s, code). It
    heartbeats the camera's ring for ``beat_s`` s, detaches from it (the producer pid is
    cleared, as a real decoder does on its way out), lingers ``linger_s`` s (a real worker's
    exit: logging shutdown, interpreter teardown; ``None``: until SIGTERM), exits ``code``."""
    from kvs_pool.ring import RingWriter
    pool, camera_id, beat_s, linger_s, code = payload
    writer = RingWriter.attach(pool, camera_id)
    deadline = time.monotonic() + beat_s
    while time.monotonic() < deadline and not stop.is_set():
        writer.heartbeat()
        time.sleep(0.05)
    writer.heartbeat()
    writer.close()
    if linger_s is None:
        stop.wait()
    else:
        time.sleep(linger_s)
    return code


def decode_then_list_modules(payload: tuple, stop: threading.Event) -> int:
    """Runs the real decoder (``payload``: DecoderArgs, seconds, output path) for ``seconds``,
    then writes the names of every module the process holds to the output path, one a line."""
    import sys

    from kvs_pool.workers.decoder import run_decoder
    args, seconds, out = payload
    threading.Timer(seconds, stop.set).start()
    code = run_decoder(args, stop)
    Path(out).write_text("\n".join(sorted(sys.modules)))
    return code
