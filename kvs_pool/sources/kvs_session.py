"""The KVS HLS session URL of one camera: get it through boto3, keep it fresh, share it safely.

``GetDataEndpoint(APIName=GET_HLS_STREAMING_SESSION_URL)`` is asked once and cached (cleared
after a network failure, as the endpoint may have moved); then
``GetHLSStreamingSessionURL(PlaybackMode=LIVE, ContainerFormat=FRAGMENTED_MP4, Expires=…)``.
Region, profile, credentials and ``endpoint_url`` go through boto3's normal chain, so the same
code talks to AWS, a VPC endpoint or the emulator. botocore's own retries are switched off:
the source owns the retry schedule (one backoff, visible in its counters).

A session is due for refresh ``refresh_margin_s`` before it expires. ``current()`` is
double-checked: the common path reads one attribute without the lock; only a due session takes
the lock, and the first thread in replaces it while the others wait and reuse the new one.
``refresh(stale)`` replaces the session only if it is still the ``stale`` one (a 403 seen by two
threads gives one refresh).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from kvs_pool.sources.kvs_errors import from_botocore_error, from_client_error

__all__ = ["SessionOptions", "SessionURL", "KVSSession"]

log = logging.getLogger(__name__)

HLS_API = "GET_HLS_STREAMING_SESSION_URL"


@dataclass(frozen=True)
class SessionOptions:
    """Which stream, how to reach AWS, and how sessions are asked for."""

    stream_name: str | None = None
    stream_arn: str | None = None
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    hls_session_seconds: int = 300          # Expires sent to AWS (300-43200)
    refresh_margin_s: float = 30.0          # refresh this long before expiry
    session_lifetime_s: float | None = None  # assumed lifetime when shorter than Expires
    max_fragments: int = 5                  # MaxMediaPlaylistFragmentResults
    api_timeout_s: float = 5.0              # connect and read timeout of the AWS calls
    boto_session: Any = None                # a boto3.session.Session to use instead

    @property
    def stream(self) -> str:
        return self.stream_name or self.stream_arn or "?"


@dataclass(frozen=True)
class SessionURL:
    """One streaming session: its master playlist URL and when it is due for refresh."""

    url: str
    issued: float      # monotonic
    refresh_at: float  # monotonic
    expires_at: float  # monotonic
    serial: int        # 1 for the first session of this manager, then 2, 3...


class KVSSession:
    """Hands out a fresh HLS session URL for one stream; thread-safe."""

    def __init__(self, options: SessionOptions, clock: Callable[[], float] = time.monotonic,
                 on_refresh: Callable[[], None] | None = None) -> None:
        if not (options.stream_name or options.stream_arn):
            raise ValueError("a KVS source needs stream_name or stream_arn")
        self.options = options
        self._clock = clock
        self._on_refresh = on_refresh
        self._lock = threading.Lock()
        self._session: SessionURL | None = None
        self._endpoint: str | None = None
        self._media: Any = None
        self._media_endpoint: str | None = None
        self._serial = 0
        self._boto = options.boto_session or boto3.session.Session(
            profile_name=options.profile, region_name=options.region)
        self._config = Config(retries={"total_max_attempts": 1, "mode": "standard"},
                              connect_timeout=options.api_timeout_s,
                              read_timeout=options.api_timeout_s,
                              user_agent_extra="kvs-pool")
        self._control = self._boto.client("kinesisvideo", endpoint_url=options.endpoint_url,
                                          config=self._config)

    def current(self) -> SessionURL:
        """A session URL not yet due for refresh (asks AWS when there is none or it is due)."""
        session = self._session
        if session is not None and self._clock() < session.refresh_at:
            return session
        with self._lock:
            session = self._session
            if session is not None and self._clock() < session.refresh_at:
                return session
            return self._replace(refresh=session is not None, reason="")

    def refresh(self, stale: SessionURL | None = None, reason: str = "on demand") -> SessionURL:
        """A new session URL now, unless another thread already replaced ``stale``; ``reason``
        goes to the log (e.g. ``after HTTP 403``)."""
        with self._lock:
            if stale is not None and self._session is not None and self._session is not stale:
                return self._session
            return self._replace(refresh=self._session is not None, reason=reason)

    def reset(self) -> None:
        """Forget the session (a reconnect asks for a new one, counted as a reconnect)."""
        with self._lock:
            self._session = None

    @property
    def session(self) -> SessionURL | None:
        """The session in use now, if any (without asking AWS)."""
        return self._session

    def due(self) -> bool:
        """True when the current session should be refreshed before its next use."""
        session = self._session
        return session is None or self._clock() >= session.refresh_at

    def _replace(self, refresh: bool, reason: str) -> SessionURL:
        """A new session; ``reason`` of a refresh for the log ('': the scheduled one)."""
        url = self._request_url()
        now = self._clock()
        lifetime = float(self.options.hls_session_seconds)
        if self.options.session_lifetime_s is not None:
            lifetime = min(lifetime, self.options.session_lifetime_s)
        margin = min(self.options.refresh_margin_s, lifetime / 2)
        self._serial += 1
        self._session = SessionURL(url, now, now + lifetime - margin, now + lifetime, self._serial)
        if refresh:
            log.info("session URL of %s refreshed (%s)", self.options.stream,
                     reason or f"{margin:.0f} s before expiry")
            if self._on_refresh is not None:
                self._on_refresh()
        return self._session

    def _stream_args(self) -> dict[str, str]:
        if self.options.stream_arn:
            return {"StreamARN": self.options.stream_arn}
        return {"StreamName": str(self.options.stream_name)}

    def _data_endpoint(self) -> str:
        if self._endpoint is None:
            answer = self._call(self._control.get_data_endpoint, "GetDataEndpoint",
                                APIName=HLS_API, **self._stream_args())
            self._endpoint = answer["DataEndpoint"]
            log.info("data endpoint of %s: %s", self.options.stream, self._endpoint)
        return self._endpoint

    def _media_client(self) -> Any:
        endpoint = self._data_endpoint()
        if self._media is None or self._media_endpoint != endpoint:
            self._media = self._boto.client("kinesis-video-archived-media", endpoint_url=endpoint,
                                            config=self._config)
            self._media_endpoint = endpoint
        return self._media

    def _request_url(self) -> str:
        answer = self._call(
            self._media_client().get_hls_streaming_session_url, "GetHLSStreamingSessionURL",
            PlaybackMode="LIVE", ContainerFormat="FRAGMENTED_MP4",
            DiscontinuityMode="ON_DISCONTINUITY", DisplayFragmentTimestamp="ALWAYS",
            Expires=int(self.options.hls_session_seconds),
            MaxMediaPlaylistFragmentResults=int(self.options.max_fragments),
            **self._stream_args())
        return str(answer["HLSStreamingSessionURL"])

    def _call(self, method: Callable[..., dict[str, Any]], api: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return method(**kwargs)
        except ClientError as err:
            raise from_client_error(err, api, self.options.stream) from err
        except BotoCoreError as err:
            self._endpoint = None   # the endpoint may have moved: ask again next time
            raise from_botocore_error(err, api, self.options.stream) from err
