"""The web UI and JSON API on the pool's HTTP port: routing, parameters, errors, access.

``WebApp.handle(handler)`` is the hook the metrics server calls first for every GET: it answers
the page, its static files and ``/api/...``, refuses requests without the configured secret
(``/healthz`` excepted), and returns False for what it does not own (``/metrics``,
``/healthz``), which the metrics server then serves as before.

| route                                      | answer                                        |
| ------------------------------------------ | --------------------------------------------- |
| ``/``, ``/static/<file>``                  | the status page (package data, no build step) |
| ``/api/status``                            | ``StatusBuilder.document()``                  |
| ``/api/cameras/<id>/latest.jpg?width=W``   | newest frame, JPEG, cached per frame          |
| ``/api/cameras/<id>/live.mjpeg?fps=F&width=W`` | multipart JPEG stream                     |
| ``/api/events?camera=C&limit=N``           | recent events, newest first                   |
| ``/api/events/<event_id>/snapshot.jpg``    | the event's snapshot (from S3), when it has one |

Errors are JSON ``{"error": "..."}``: 404 for an unknown camera or route, 400 for a bad
parameter, 503 when the camera has no frame yet, 502 when S3 will not give a snapshot, 401
without the secret.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from kvs_pool.metrics.view import PoolView
from kvs_pool.web.auth import Access
from kvs_pool.web.events import EventLog
from kvs_pool.web.frames import FrameEncoder, NoFrame
from kvs_pool.web.mjpeg import MjpegRequest, stream_mjpeg
from kvs_pool.web.snapshots import SnapshotError, SnapshotStore, s3_location
from kvs_pool.web.status import StatusBuilder

__all__ = ["WebApp", "BadRequest"]

log = logging.getLogger(__name__)

_CAMERA_ROUTE = re.compile(r"^/api/cameras/([^/]+)/(latest\.jpg|live\.mjpeg)$")
_SNAPSHOT_ROUTE = re.compile(r"^/api/events/([^/]+)/snapshot\.jpg$")
_STATIC = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
           "style.css": "text/css; charset=utf-8"}
_OPEN_PATHS = ("/healthz",)
_MAX_FPS = 30.0
MAX_LIVE_VIEWERS = 64   # concurrent MJPEG streams (one thread each); more get 503
_MAX_WIDTH = 7680


class BadRequest(ValueError):
    """A parameter of the request is not acceptable (answered 400, naming it)."""


class WebApp:
    """Everything the HTTP port serves beyond ``/metrics`` and ``/healthz``."""

    def __init__(self, view: PoolView, events: Callable[[], Sequence[str]],
                 access: Access = Access(),
                 pipelines: Callable[[], dict[str, list[str]]] | None = None,
                 snapshots: SnapshotStore | None = None) -> None:
        self.view, self.access, self.snapshots = view, access, snapshots
        self.encoder = FrameEncoder(view.pool)
        self.events = EventLog(events)
        self.status = StatusBuilder(view, self.encoder.encodes, pipelines)
        self.stopping = threading.Event()
        self.live_slots = threading.BoundedSemaphore(MAX_LIVE_VIEWERS)

    def handle(self, handler: BaseHTTPRequestHandler) -> bool:
        """Serve the request if it is ours (True), else leave it to the caller (False)."""
        url = urlsplit(handler.path)
        path = url.path
        if path not in _OPEN_PATHS and not self.access.allows(handler.headers.get("Authorization")):
            _unauthorized(handler, self.access)
            return True
        if path in ("/metrics", "/healthz"):
            return False
        try:
            self._route(handler, path, parse_qs(url.query, keep_blank_values=True))
        except BadRequest as exc:
            send_json(handler, 400, {"error": str(exc)})
        except NoFrame as exc:
            send_json(handler, 503, {"error": str(exc)}, retry_after=1)
        except (ConnectionError, TimeoutError) as exc:  # the client left (a browser cancelled)
            log.debug("%s: client %s left: %s", path, handler.client_address, exc)
        except Exception:  # a bug here must not print tracebacks per request or kill the port
            log.exception("GET %s failed", path)
            _try_send_json(handler, 500, {"error": f"internal error serving {path} (see the log)"})
        return True

    def close(self) -> None:
        self.stopping.set()
        self.encoder.close()

    # -- routes ---------------------------------------------------------------------------------
    def _route(self, handler: BaseHTTPRequestHandler, path: str,
               query: dict[str, list[str]]) -> None:
        match = _CAMERA_ROUTE.match(path)
        if path in ("/", "/index.html"):
            self._static(handler, "index.html")
        elif path.startswith("/static/"):
            self._static(handler, path[len("/static/"):])
        elif path == "/api/status":
            self.encoder.retain(self.view.camera_ids())  # free rings of removed cameras
            send_json(handler, 200, self.status.document())
        elif path == "/api/events":
            self._events(handler, query)
        elif match:
            self._camera(handler, unquote(match.group(1)), match.group(2), query)
        elif snap := _SNAPSHOT_ROUTE.match(path):
            self._snapshot(handler, unquote(snap.group(1)))
        elif path.startswith("/api/"):
            send_json(handler, 404, {"error": f"no such API route: {path}"})
        else:
            send(handler, 404, "text/plain; charset=utf-8",
                 b"not found: try /, /api/status, /metrics or /healthz\n")

    def _static(self, handler: BaseHTTPRequestHandler, name: str) -> None:
        if name not in _STATIC:
            send(handler, 404, "text/plain; charset=utf-8", f"no such file: {name}\n".encode())
            return
        body = resources.files("kvs_pool.web").joinpath("static", name).read_bytes()
        send(handler, 200, _STATIC[name], body, {"Cache-Control": "no-cache"})

    def _events(self, handler: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> None:
        camera = _param(query, "camera") or None
        if camera is not None and camera not in self.view.camera_ids():
            _no_camera(handler, camera, self.view.pool)
            return
        limit = _number(query, "limit", int, 50, (1, 1000))
        events = [self._with_snapshot_url(e) for e in self.events.recent(camera, int(limit))]
        send_json(handler, 200, {"events": events})

    def _with_snapshot_url(self, event: dict[str, Any]) -> dict[str, Any]:
        """The event plus ``snapshot_url`` (where the page gets its snapshot) when it has one."""
        uri = event.get("snapshot_uri")
        if self.snapshots is not None and s3_location(uri) and event.get("event_id"):
            return {**event, "snapshot_url": f"/api/events/{event['event_id']}/snapshot.jpg"}
        if isinstance(uri, str) and uri.startswith(("http://", "https://")):
            return {**event, "snapshot_url": uri}
        return event

    def _snapshot(self, handler: BaseHTTPRequestHandler, event_id: str) -> None:
        event = next((e for e in self.events.recent(None, 1000)
                      if e.get("event_id") == event_id and s3_location(e.get("snapshot_uri"))),
                     None)
        if event is None or self.snapshots is None:
            send_json(handler, 404, {"error": f"no recent event {event_id!r} with a snapshot"})
            return
        try:
            data = self.snapshots.get(event["snapshot_uri"])
        except SnapshotError as exc:
            send_json(handler, 502, {"error": str(exc)})
            return
        send(handler, 200, "image/jpeg", data, {"Cache-Control": "private, max-age=3600"})

    def _camera(self, handler: BaseHTTPRequestHandler, camera_id: str, what: str,
                query: dict[str, list[str]]) -> None:
        if camera_id not in self.view.camera_ids():
            _no_camera(handler, camera_id, self.view.pool)
            return
        width = _number(query, "width", int, None, (16, _MAX_WIDTH))
        width = int(width) if width is not None else None
        if what == "latest.jpg":
            jpeg = self.encoder.latest(camera_id, width)
            send(handler, 200, "image/jpeg", jpeg.data,
                 {"X-Frame-Seq": str(jpeg.seq), "X-Frame-Time": f"{jpeg.capture_ts:.3f}"})
            return
        fps = float(_number(query, "fps", float, 5.0, (0.1, _MAX_FPS)))
        self.encoder.newest_seq(camera_id)  # 503 now, before the 200, if there is no ring
        if not self.live_slots.acquire(blocking=False):
            send_json(handler, 503, {"error": f"{MAX_LIVE_VIEWERS} live views are open already"},
                      retry_after=5)
            return
        try:
            stream_mjpeg(handler, self.encoder, MjpegRequest(camera_id, fps, width), self.stopping)
        finally:
            self.live_slots.release()


def _param(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _number(query: dict[str, list[str]], name: str, kind: type, default: Any,
            bounds: tuple[float, float]) -> Any:
    """Parameter ``name`` as ``kind`` within ``bounds`` (inclusive), or BadRequest naming it."""
    raw = _param(query, name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise BadRequest(f"{name}={raw!r}: not {what}") from None
    if not bounds[0] <= value <= bounds[1]:
        raise BadRequest(f"{name}={raw}: must be between {bounds[0]:g} and {bounds[1]:g}")
    return value


def send(handler: BaseHTTPRequestHandler, code: int, content_type: str, body: bytes,
         headers: dict[str, str] | None = None) -> None:
    """A complete response with a body (``Cache-Control: no-store`` unless ``headers`` say)."""
    handler.send_response(code)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for key, value in {"Cache-Control": "no-store", **(headers or {})}.items():
        handler.send_header(key, value)
    handler.end_headers()
    handler.wfile.write(body)


def send_json(handler: BaseHTTPRequestHandler, code: int, doc: Any,
              retry_after: int | None = None) -> None:
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    send(handler, code, "application/json", json.dumps(doc, default=str).encode() + b"\n",
         headers)


def _no_camera(handler: BaseHTTPRequestHandler, camera_id: str, pool: str) -> None:
    send_json(handler, 404, {"error": f"no camera {camera_id!r} in pool {pool!r}"})


def _try_send_json(handler: BaseHTTPRequestHandler, code: int, doc: Any) -> None:
    try:
        send_json(handler, code, doc)
    except OSError:
        pass


def _unauthorized(handler: BaseHTTPRequestHandler, access: Access) -> None:
    challenge = ('Basic realm="kvs-pool", charset="UTF-8"' if access.basic is not None
                 else 'Bearer realm="kvs-pool"')
    send(handler, 401, "application/json", b'{"error": "authentication required"}\n',
         {"WWW-Authenticate": challenge})
