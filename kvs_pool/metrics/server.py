"""The pool's HTTP endpoint, served from a thread of the supervisor: ``/metrics`` (our own
registry through prometheus_client's exposition: text or OpenMetrics, gzip on request; see
``exposition``) and ``/healthz`` (200 when every camera is healthy, else 503 with a
JSON body naming the cameras that are not and why).

Routing hook: an optional ``app`` (the status page and API, ``kvs_pool.web``) sees every GET
first, one thread per connection; it answers what it owns and returns False for the rest.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from typing import Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.registry import Collector

from kvs_pool.errors import KvsPoolError
from kvs_pool.httpserver import QuietHTTPServer
from kvs_pool.metrics.collector import PoolCollector
from kvs_pool.metrics.exposition import MetricsExposition
from kvs_pool.metrics.health import unhealthy_cameras
from kvs_pool.metrics.labels import LabelledCollector
from kvs_pool.metrics.view import PoolView

__all__ = ["MetricsServer", "HttpApp"]

log = logging.getLogger(__name__)


class HttpApp(Protocol):
    """More routes on the same port (``kvs_pool.web.WebApp``)."""

    def handle(self, handler: BaseHTTPRequestHandler) -> bool: ...

    def close(self) -> None: ...


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 30  # s per socket read/write: an idle or stalled client frees its thread

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.server.app is not None and self.server.app.handle(self):
            return
        path, _, query = self.path.partition("?")
        if path == "/metrics":
            self._scrape(query)
        elif path == "/healthz":
            problems = unhealthy_cameras(self.server.view)
            body = {"healthy": not problems, "pool": self.server.view.pool,
                    "unhealthy": problems}
            self._send(503 if problems else 200, "application/json",
                       json.dumps(body, sort_keys=True).encode() + b"\n")
        else:
            self._send(404, "text/plain", b"not found: try /metrics or /healthz\n")

    def _scrape(self, query: str) -> None:
        answer = self.server.exposition.scrape(query, self.headers.get("Accept", ""),
                                               self.headers.get("Accept-Encoding", ""))
        self.send_response(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def _send(self, code: int, content_type: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args: object) -> None:
        log.debug("metrics %s", fmt % args)


class _Server(QuietHTTPServer):
    request_queue_size = 64  # listen backlog: a burst of viewers never leaves probes in SYN retries
    registry: CollectorRegistry
    exposition: MetricsExposition
    view: PoolView
    app: HttpApp | None = None


class MetricsServer:
    """``/metrics`` and ``/healthz`` for one pool, on ``host:port`` (port 0: any free)."""

    def __init__(self, view: PoolView, host: str = "127.0.0.1", port: int = 9108,
                 labels: Mapping[str, str] | None = None, app: HttpApp | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        collector: Collector = PoolCollector(view)
        self.registry.register(LabelledCollector(collector, labels) if labels else collector)
        try:
            self._httpd = _Server((host, port), _Handler)
        except OSError as exc:
            raise KvsPoolError(f"metrics endpoint cannot listen on {host}:{port}: {exc} "
                               "(set pool.metrics.port to a free port, or 0)") from exc
        self._httpd.registry, self._httpd.view = self.registry, view
        self._httpd.exposition = MetricsExposition(self.registry)
        self._httpd.app = app
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="metrics",
                                        kwargs={"poll_interval": 0.5}, daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread.start()
        log.info("metrics on %s/metrics, health on %s/healthz", self.url, self.url)

    def stop(self) -> None:
        if self._thread.is_alive():
            self._httpd.shutdown()
        if self._httpd.app is not None:
            self._httpd.app.close()
        self._httpd.server_close()
