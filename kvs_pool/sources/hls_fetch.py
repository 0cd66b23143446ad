"""Fetch HLS playlists and fMP4 fragments over HTTP(S) with bounded timeouts.

One keep-alive connection pool (urllib3, which botocore already depends on, with botocore's CA
bundle) per source. No automatic retries or redirects: every failure reaches the source, which
owns the retry schedule. An error answer becomes ``HLSResponseError`` with the HTTP status and
the AWS code from the ``x-amzn-ErrorType`` header or the JSON body's ``__type``; a failure
without an answer (refused, reset, timed out) becomes ``HLSResponseError`` with status None.
Messages never contain the session token.

Proxies: ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY`` (any case) are honoured exactly as botocore
honours them for the control plane (``botocore.utils.get_environ_proxies`` decides, per URL,
whether and through which proxy; credentials in the proxy URL become ``Proxy-Authorization``),
so a site behind an egress proxy gets its fragments the same way it gets its API calls. One
pool per proxy (normally one or none).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import urllib3
from botocore.httpsession import ProxyConfiguration, get_cert_path
from botocore.utils import get_environ_proxies

from kvs_pool.sources.hls_playlist import redact
from kvs_pool.sources.kvs_errors import HLSResponseError, from_http

__all__ = ["FetchOptions", "Fetcher"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FetchOptions:
    """Timeouts (seconds) and the size bound of one answer."""

    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0
    max_bytes: int = 64 * 1024 * 1024


class Fetcher:
    """GETs URLs, returns bodies, raises ``HLSResponseError``."""

    def __init__(self, options: FetchOptions | None = None) -> None:
        self.options = options or FetchOptions()
        self._pools: dict[str | None, urllib3.PoolManager] = {}
        self._by_origin: dict[str, urllib3.PoolManager] = {}   # scheme://host:port -> pool
        self.requests = 0

    def _pool(self, url: str) -> urllib3.PoolManager:
        """The connection pool for ``url``'s origin, decided once per origin (the environment's
        proxy settings do not change while a process runs)."""
        scheme, _, rest = url.partition("://")
        origin = f"{scheme}://{rest.split('/', 1)[0]}"
        pool = self._by_origin.get(origin)
        if pool is None:
            pool = self._by_origin[origin] = self._pool_for(url)
        return pool

    def _pool_for(self, url: str) -> urllib3.PoolManager:
        """Direct, or through the proxy the environment names for ``url``."""
        proxies = ProxyConfiguration(get_environ_proxies(url))
        proxy = proxies.proxy_url_for(url)
        pool = self._pools.get(proxy)
        if pool is None:
            kwargs = dict(num_pools=4, maxsize=2, retries=False, ca_certs=get_cert_path(True),
                          timeout=urllib3.Timeout(connect=self.options.connect_timeout_s,
                                                  read=self.options.read_timeout_s))
            pool = (urllib3.ProxyManager(proxy, proxy_headers=proxies.proxy_headers_for(proxy),
                                         **kwargs) if proxy else urllib3.PoolManager(**kwargs))
            self._pools[proxy] = pool
        return pool

    def get(self, url: str, what: str) -> bytes:
        """The body of ``url``; ``what`` names the request in error messages."""
        self.requests += 1
        try:
            answer = self._pool(url).request("GET", url, redirect=False, preload_content=False)
        except urllib3.exceptions.HTTPError as err:
            raise HLSResponseError(f"{what} at {redact(url)}: {type(err).__name__}: {_reason(err)}",
                                   status=None, code=type(err).__name__) from err
        try:
            return self._body(answer, url, what)
        finally:
            answer.release_conn()

    def _body(self, answer: urllib3.BaseHTTPResponse, url: str, what: str) -> bytes:
        try:
            data = answer.read(self.options.max_bytes + 1)
        except urllib3.exceptions.HTTPError as err:
            raise HLSResponseError(f"{what} at {redact(url)}: {type(err).__name__} while reading",
                                   status=None, code=type(err).__name__) from err
        if answer.status >= 400:
            raise from_http(answer.status, _error_code(answer, data), f"{what} at {redact(url)}")
        if len(data) > self.options.max_bytes:
            raise HLSResponseError(f"{what} at {redact(url)}: answer larger than "
                                   f"{self.options.max_bytes} bytes", status=answer.status)
        return bytes(data)

    def close(self) -> None:
        for pool in self._pools.values():
            pool.clear()
        self._pools.clear()
        self._by_origin.clear()


def _reason(err: Exception) -> str:
    reason = getattr(err, "reason", None)
    return str(reason or err).split(": ", 1)[-1][:200]


def _error_code(answer: urllib3.BaseHTTPResponse, data: bytes) -> str | None:
    code = answer.headers.get("x-amzn-ErrorType") or answer.headers.get("x-amz-ErrorType")
    if code:
        return code.split(":", 1)[0]
    try:
        doc = json.loads(data.decode("utf-8", "replace"))
    except ValueError:
        return None
    value = doc.get("__type") or doc.get("code") if isinstance(doc, dict) else None
    return str(value).rsplit("#", 1)[-1] if value else None
