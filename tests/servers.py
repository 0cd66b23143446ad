"""What the tests that run real servers as subprocesses (GStreamer's RTSP server, mosquitto)
share: a free loopback port, and stopping a server process for sure."""

from __future__ import annotations

import signal
import socket
import subprocess

__all__ = ["free_port", "stop_server"]


def free_port() -> int:
    """A TCP port nothing listens on now (the server binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop_server(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGCONT (in case a test paused it), SIGTERM, then SIGKILL after ``timeout``; reaped."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGCONT)
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)
    if proc.stdout is not None:
        proc.stdout.close()
