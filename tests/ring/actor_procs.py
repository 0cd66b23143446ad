"""Start ``ring_actors.py`` programs as real processes, read their output, always clean them up."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ACTORS = Path(__file__).with_name("ring_actors.py")


class Actor:
    """One started actor; stdout lines are collected by a thread so reads can time out."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, str(ACTORS), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def line(self, timeout: float = 30.0) -> str:
        """The next stdout line; AssertionError (with stderr) if none comes in time."""
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"actor {self.proc.args[2:]} printed nothing in {timeout}s") from None
        if line is None:
            raise AssertionError(f"actor {self.proc.args[2:]} exited ({self.proc.wait()}): "
                                 f"{self.stderr()}")
        return line

    def result(self, timeout: float = 60.0) -> dict:
        """Wait for exit and return the JSON of its last line."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                raise AssertionError(f"actor {self.proc.args[2:]} did not finish in {timeout}s") from None
            if line is None:
                break
            last = line
        code = self.proc.wait(timeout=10)
        assert code == 0, f"actor {self.proc.args[2:]} exited {code}: {self.stderr()}"
        assert last is not None, f"actor {self.proc.args[2:]} printed nothing"
        return json.loads(last)

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        return self.proc.stderr.read() if self.proc.stderr else ""  # type: ignore[union-attr]

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        self.proc.wait(timeout=10)


@contextmanager
def actors() -> Iterator[list[Actor]]:
    """A list to append started actors to; every one still running is SIGKILLed at the end."""
    started: list[Actor] = []
    try:
        yield started
    finally:
        for actor in started:
            actor.kill()
            for stream in (actor.proc.stdout, actor.proc.stderr):
                if stream:
                    stream.close()
