"""Turn a worker's exit status into words for logs, metrics and ``kvs-pool status``."""

from __future__ import annotations

import signal

from kvs_pool.exits import EXIT_MEANINGS

__all__ = ["describe_exit"]


def describe_exit(code: int, killed_by_us: bool = False) -> str:
    """``code`` as ``os.waitstatus_to_exitcode`` gives it: >= 0 exit code, -N killed by N."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        if -code == signal.SIGKILL and not killed_by_us:
            return "killed by SIGKILL (maybe out of memory)"
        return f"killed by {name}"
    meaning = EXIT_MEANINGS.get(code)
    return f"{meaning} (exit {code})" if meaning else f"exited with code {code}"
