"""The emulator's HTTP server (standard library ``ThreadingHTTPServer``) and its Python handle.

Routes::

    POST /getDataEndpoint, /describeStream, /listStreams          kinesisvideo (rest-json)
    POST /getHLSStreamingSessionURL                               kinesis-video-archived-media
    GET  /hls/v1/getHLSMasterPlaylist.m3u8?SessionToken=...       HLS data plane
    GET  /hls/v1/getHLSMediaPlaylist.m3u8?SessionToken=...
    GET  /hls/v1/getMP4InitFragment.mp4?SessionToken=...[&FragmentNumber=...]
    GET  /hls/v1/getMP4MediaFragment.mp4?SessionToken=...&FragmentNumber=...
    GET  /_emulator/state                                         streams, fragments, sessions
    POST /_emulator/faults  {"fault": <name>, ...}                see ``kvs_pool.emulator.control``
    anything else                                                 moto (if enabled) or 404

In a test::

    with EmulatorServer(EmulatorConfig(streams=(StreamSpec("cam-1"),))) as emu:
        kv = boto3.client("kinesisvideo", endpoint_url=emu.base_url, region_name="us-east-1")
        emu.expire_sessions(); emu.error_burst(500, count=3); emu.stall(40); emu.resume()
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import replace
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from kvs_pool.emulator import control
from kvs_pool.emulator.config import EmulatorConfig
from kvs_pool.emulator.faults import ErrorBurst
from kvs_pool.emulator.service import KVSEmulator, Reply, aws_error
from kvs_pool.httpserver import QuietHTTPServer
from kvs_pool.loopback import is_loopback

__all__ = ["EmulatorServer"]

log = logging.getLogger(__name__)

_MAX_BODY = 1 << 20  # control calls and fault requests are small JSON documents

_CONTROL = {
    "/getDataEndpoint": ("GetDataEndpoint", KVSEmulator.get_data_endpoint),
    "/describeStream": ("DescribeStream", KVSEmulator.describe_stream),
    "/listStreams": ("ListStreams", KVSEmulator.list_streams),
    "/getHLSStreamingSessionURL": ("GetHLSStreamingSessionURL",
                                   KVSEmulator.get_hls_streaming_session_url),
}
_DATA: dict[str, tuple[str, Callable[..., Reply]]] = {
    "/hls/v1/getHLSMasterPlaylist.m3u8": ("GetHLSMasterPlaylist", lambda e, s, q: e.master(s)),
    "/hls/v1/getHLSMediaPlaylist.m3u8": ("GetHLSMediaPlaylist", lambda e, s, q: e.media(s)),
    "/hls/v1/getMP4InitFragment.mp4": ("GetMP4InitFragment", KVSEmulator.init),
    "/hls/v1/getMP4MediaFragment.mp4": ("GetMP4MediaFragment", KVSEmulator.media_fragment),
}


class _Handler(BaseHTTPRequestHandler):
    """One connection; keep-alive (FFmpeg reuses connections for HLS)."""

    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 60

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        log.debug("%s %s", self.address_string(), format % args)

    def _body(self) -> bytes | None:
        """The request body, or None (and a 400 sent) when Content-Length is not a size."""
        raw = self.headers.get("Content-Length") or "0"
        if not raw.isdigit() or int(raw) > _MAX_BODY:
            self._send(aws_error(400, "SerializationException",
                                 f"Content-Length must be 0 to {_MAX_BODY}, not {raw[:20]!r}"))
            self.close_connection = True
            return None
        return self.rfile.read(int(raw)) if int(raw) else b""

    def _serve(self, method: str, head: bool = False) -> None:
        body = self._body() if method in ("POST", "PUT", "DELETE") else b""
        if body is None:
            return
        refused = self._refused_client()
        reply = refused or self.server.route(method, self.path, body, self.headers)
        self._send(reply, head=head)

    def _refused_client(self) -> Reply | None:
        """The control API (faults, state) answers loopback clients only, unless allowed."""
        path = urlsplit(self.path).path  # as _route reads it (an absolute URI too)
        if not path.startswith("/_emulator/") or self.server.remote_faults:
            return None
        if is_loopback(self.client_address[0]):
            return None
        log.warning("refused %s %s from %s: the emulator's control API serves loopback "
                    "clients only (emulator.allow_remote_faults)", self.command, path,
                    self.client_address[0])
        return aws_error(403, "AccessDeniedException", "the emulator's control API serves "
                         "loopback clients only (emulator.allow_remote_faults to allow others)")

    def _send(self, reply: Reply, head: bool = False) -> None:
        headers = dict(reply.headers)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", headers.pop("Content-Length", str(len(reply.body))))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(reply.body)

    def do_GET(self) -> None:  # noqa: N802 (stdlib name)
        self._serve("GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve("HEAD", head=True)

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._serve("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve("DELETE")


class _Server(QuietHTTPServer):
    allow_reuse_address = True
    # Set by ``EmulatorServer.start`` once bound (the emulator needs the port), before serving.
    emulator: KVSEmulator
    fallback: Callable[..., Reply] | None = None

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self.remote_faults = False  # serve the control API to non-loopback clients
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()

    def track(self, sock: socket.socket, alive: bool) -> None:
        with self._conn_lock:
            (self._connections.add if alive else self._connections.discard)(sock)

    def close_connections(self) -> None:
        """Cut every open keep-alive connection (so a stopped server really stops)."""
        with self._conn_lock:
            for sock in list(self._connections):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def route(self, method: str, path: str, body: bytes, headers: Any) -> Reply:
        """Dispatch one request; never raises (a bug becomes a 500 InternalFailure)."""
        try:
            return self._route(method, path, body, headers)
        except Exception as exc:  # noqa: BLE001 - the server must keep serving
            log.exception("emulator failed on %s %s", method, path)
            return aws_error(500, "InternalFailure", f"emulator error: {exc}")

    def _route(self, method: str, path: str, body: bytes, headers: Any) -> Reply:
        parts = urlsplit(path)
        query = dict(parse_qsl(parts.query))
        if parts.path.startswith("/_emulator/"):
            return control.handle(self.emulator, method, parts.path, body)
        if method == "POST" and parts.path in _CONTROL:
            api, call = _CONTROL[parts.path]
            try:
                doc = json.loads(body or b"{}")
            except ValueError:
                return aws_error(400, "SerializationException", "the body is not JSON")
            stream = str(doc.get("StreamName") or doc.get("StreamARN") or "")
            refused = self._refused("control", api, stream, stream)
            return refused or call(self.emulator, doc)
        if method in ("GET", "HEAD") and parts.path in _DATA:
            return self._data(parts.path, query)
        if self.fallback is not None:
            return self.fallback(method, path, body, headers)
        return aws_error(404, "UnknownOperationException", f"no such operation: {method} {path}")

    def _refused(self, plane: str, api: str, stream: str, limit_key: str) -> Reply | None:
        """An injected error burst or a rate limit hit for this request, if any."""
        burst = self.emulator.bursts.take(plane, api, stream)
        if burst:
            return aws_error(burst.status, burst.code, f"injected fault ({api})")
        limiter = self.emulator.limiter
        if limiter is not None and not limiter.allow(api, limit_key):
            return aws_error(400, "ClientLimitExceededException",
                             f"{api}: rate limit of {limiter.limits[api]:g} TPS exceeded")
        return None

    def _data(self, path: str, query: dict[str, str]) -> Reply:
        api, call = _DATA[path]
        session, error = self.emulator.session_for(query)
        stream = session.stream if session else ""
        refused = self._refused("data", api, stream, query.get("SessionToken", ""))
        if refused:
            return refused
        if error or session is None:
            return error or aws_error(500, "InternalFailure", "no session")
        return call(self.emulator, session, query)


class EmulatorServer:
    """A loopback KVS on ``config.host:config.port`` (port 0: a free port), in a thread.

    ``start()`` returns the base URL (also ``base_url``); use as a context manager in tests.
    Fault methods act at once and are the same as the ``POST /_emulator/faults`` calls.
    """

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.emulator: KVSEmulator | None = None

    def start(self) -> str:
        """Encode/load media, bind, serve in a daemon thread; returns ``http://host:port``."""
        if self._server is not None:
            return self.base_url
        server = _Server((self.config.host, self.config.port))
        server.remote_faults = self.config.allow_remote_faults
        port = server.server_address[1]
        try:
            server.emulator = KVSEmulator(replace(self.config, port=port))
            server.fallback = _moto_fallback() if self.config.moto else None
        except BaseException:
            server.server_close()
            raise
        self._server, self.emulator = server, server.emulator
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"kvs-emulator:{port}", daemon=True)
        self._thread.start()
        log.info("KVS emulator serving %s", self.base_url)
        return self.base_url

    def stop(self) -> None:
        """Stop serving and close every connection; safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> EmulatorServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running server (the endpoint_url for boto3)."""
        return self._emu().base_url

    def _emu(self) -> KVSEmulator:
        if self.emulator is None:
            raise RuntimeError("emulator not started")
        return self.emulator

    # -- faults (same as POST /_emulator/faults) -----------------------------------------
    def expire_sessions(self, stream: str | None = None) -> int:
        """Expire every current session (of ``stream``): data-plane calls then get 403."""
        return self._emu().expire_sessions(stream)

    def set_session_seconds(self, seconds: float | None) -> None:
        """Lifetime of sessions created from now on (``None``: the client's ``Expires``)."""
        self._emu().session_seconds = seconds

    def error_burst(self, status: int, count: int = 1, **match: str) -> None:
        """Answer the next ``count`` requests matching ``plane``/``api``/``stream`` with
        ``status`` (and ``code``, default per status: 403 NotAuthorizedException, 500
        InternalFailure, 400 ClientLimitExceededException, 404 ResourceNotFoundException)."""
        self._emu().add_burst(ErrorBurst(status=status, count=count, **match))

    def throttle(self, count: int = 1, **match: str) -> None:
        """Answer the next ``count`` matching requests 400 ClientLimitExceededException."""
        self.error_burst(400, count, code="ClientLimitExceededException", **match)

    def stall(self, seconds: float | None = None, stream: str | None = None) -> None:
        """Publish no new fragment for ``seconds`` (``None``: until ``resume``). A stall past
        ``config.idle_window_s`` makes GetHLSStreamingSessionURL answer 404."""
        self._emu().stall(seconds, stream)

    def resume(self, stream: str | None = None) -> None:
        """End a stall now."""
        self._emu().resume(stream)

    def corrupt_next(self, count: int = 1, stream: str | None = None) -> None:
        """Fill the middle of the next ``count`` published fragments' samples with garbage."""
        self._emu().corrupt_next(count, stream)

    def change_resolution(self, width: int, height: int, stream: str | None = None) -> None:
        """From the next fragment on, serve a rendition at ``width``x``height`` (new init
        segment, ``#EXT-X-DISCONTINUITY`` + new ``#EXT-X-MAP`` in the media playlist)."""
        self._emu().change_resolution(width, height, stream)

    def state(self) -> dict[str, Any]:
        """Same as ``GET /_emulator/state``."""
        return self._emu().state()


def _moto_fallback() -> Callable[..., Reply] | None:
    from kvs_pool.emulator import moto_bridge

    return moto_bridge.make_fallback()
