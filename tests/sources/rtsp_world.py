"""A real RTSP server for tests: ``rtsp_server.py`` (GStreamer's gst-rtsp-server) run by the
system ``python3`` as a subprocess on a free loopback port, with stop, restart, SIGSTOP/SIGCONT.

The server needs Debian's ``python3-gi``, ``gir1.2-gst-rtsp-server-1.0`` and
``gstreamer1.0-plugins-ugly`` (x264enc); ``.ci/run`` installs them.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers import free_port, stop_server

SCRIPT = Path(__file__).with_name("rtsp_server.py")
SYSTEM_PYTHON = "/usr/bin/python3"
PASSWORD_ENV = "RTSP_TEST_PASSWORD"


@dataclass
class RtspServer:
    """One gst-rtsp-server process; ``url`` is its stream (with credentials when it has a user)."""

    port: int = field(default_factory=free_port)
    user: str | None = None
    password: str = ""
    extra: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f"{self.user}:{self.password}@" if self.user else ""
        return f"rtsp://{auth}127.0.0.1:{self.port}/test"

    def start(self, timeout: float = 30.0) -> RtspServer:
        """Start and wait for its READY line."""
        args = [SYSTEM_PYTHON, str(SCRIPT), "--port", str(self.port), *self.extra]
        if self.user:
            args += ["--user", self.user, "--password-env", PASSWORD_ENV]
        env = {**os.environ, PASSWORD_ENV: self.password}
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, env=env)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else b""
        if not line.startswith(b"READY"):
            self.stop()
            raise RuntimeError(f"RTSP server did not start (said {line!r}); needs "
                               "python3-gi, gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-ugly")
        return self

    def stop(self) -> None:
        """SIGTERM (after SIGCONT, in case it is paused), then SIGKILL; reaped."""
        if self.proc is not None:
            stop_server(self.proc)
        self.proc = None

    def pause(self) -> None:
        """SIGSTOP: the server hangs with its sockets open (a stalled camera)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def restart(self, down_s: float = 0.0) -> None:
        """Stop, stay down ``down_s``, start again on the same port."""
        self.stop()
        time.sleep(down_s)
        self.start()
