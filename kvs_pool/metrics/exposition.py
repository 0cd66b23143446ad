"""``/metrics`` through prometheus_client's own exposition (its WSGI app), so the endpoint
speaks what Prometheus and other scrapers expect: the classic text format or OpenMetrics by
``Accept`` negotiation, and gzip when the scraper asks for it (``Accept-Encoding``). The pool's
HTTP server is ``http.server`` (one port for metrics, health and the status page), so this
module adapts one GET to the WSGI call.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, make_wsgi_app

__all__ = ["Scrape", "MetricsExposition"]


@dataclass(frozen=True)
class Scrape:
    """One answer: HTTP status code, headers, body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


class MetricsExposition:
    """Renders a registry for one scrape request."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._app = make_wsgi_app(registry)

    def scrape(self, query: str, accept: str = "", accept_encoding: str = "") -> Scrape:
        """The answer to ``GET /metrics?<query>`` with these request headers."""
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics", "QUERY_STRING": query,
                   "HTTP_ACCEPT": accept, "HTTP_ACCEPT_ENCODING": accept_encoding,
                   "SERVER_NAME": "kvs-pool", "SERVER_PORT": "0", "wsgi.url_scheme": "http"}
        started: list[tuple[int, list[tuple[str, str]]]] = []   # what the app answered

        def start_response(status: str, headers: list[tuple[str, str]],
                           exc_info: object = None) -> None:
            started.append((int(status.split()[0]), headers))
        chunks: Iterable[bytes] = self._app(environ, start_response)
        body = b"".join(chunks)
        status, headers = started[-1]
        return Scrape(status, list(headers), body)
