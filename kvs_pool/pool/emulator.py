"""The embedded KVS emulator of the demo, run inside the supervisor process when enabled.

Why in the parent rather than as a supervised child: decoders need it answering before their
first connect, its port comes from the config, and its life is exactly the pool's (start before
the first spawn round, stop after the last worker); a child would add a readiness handshake and
a restart policy for a test/demo tool. Its HTTP threads share the parent's GIL with the main
loop, which sleeps most of the time; production pools leave it disabled.
"""

from __future__ import annotations

import logging
from typing import Any

from kvs_pool.config import EmulatorSection
from kvs_pool.errors import KvsPoolError

__all__ = ["EmbeddedEmulator"]

log = logging.getLogger(__name__)


class EmbeddedEmulator:
    """Starts and stops ``kvs_pool.emulator.EmulatorServer`` when the config enables it."""

    def __init__(self, config: EmulatorSection) -> None:
        self.config = config
        self._server: Any = None

    def start(self) -> None:
        if not self.config.enabled:
            return
        from kvs_pool.emulator import EmulatorServer, from_pool_config  # only the demo needs it
        server = EmulatorServer(from_pool_config(self.config))
        try:
            server.start()
        except OSError as exc:
            raise KvsPoolError(f"the KVS emulator cannot listen on {self.config.endpoint_url}: "
                               f"{exc} (change emulator.port, and the cameras' endpoint_url)"
                               ) from exc
        self._server = server
        log.info("KVS emulator serving %d streams on %s", len(self.config.streams),
                 self.config.endpoint_url)

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()
