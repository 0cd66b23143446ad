"""The threading HTTP server under our endpoints (metrics, emulator): clients may go away.

The standard library prints a full traceback on stderr for every connection that ends with an
exception, a client that resets or closes its connection mid-request included. A scraper that
times out or a decoder killed mid-download is routine: it is one debug line here. Any other
error in a connection is logged once, with its traceback, through the module's logger.
"""

from __future__ import annotations

import logging
import sys
from http.server import ThreadingHTTPServer
from typing import Any

__all__ = ["QuietHTTPServer"]

log = logging.getLogger(__name__)


class QuietHTTPServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` with daemon threads and a quiet ``handle_error``."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        peer = client_address[0] if client_address else "?"
        if isinstance(exc, (ConnectionError, TimeoutError)):
            log.debug("client %s went away: %s", peer, exc)
        else:
            log.error("connection from %s failed", peer, exc_info=exc)
