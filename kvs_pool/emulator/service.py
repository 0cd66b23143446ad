"""The emulated KVS itself, without HTTP: streams, sessions, faults, and one method per API call.

Every call returns a ``Reply`` (status, content type, body, headers). Errors use the wire
format botocore maps to its modelled exceptions: HTTP status + header ``x-amzn-ErrorType`` +
JSON body ``{"__type": code, "Message": ...}``; statuses and codes follow the service models
(``kinesisvideo`` and ``kinesis-video-archived-media``, 2017-09-30).
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from kvs_pool.emulator.config import EmulatorConfig, StreamSpec
from kvs_pool.emulator.faults import BurstTable, ErrorBurst
from kvs_pool.emulator.limits import RateLimiter
from kvs_pool.emulator.media import Clip, file_clip, synthetic_clip
from kvs_pool.emulator.playlists import master_playlist, media_playlist
from kvs_pool.emulator.stream import LiveFragment, LiveStream

__all__ = ["Reply", "Session", "KVSEmulator", "aws_error"]

log = logging.getLogger(__name__)

_API_NAMES = {"PUT_MEDIA", "GET_MEDIA", "LIST_FRAGMENTS", "GET_MEDIA_FOR_FRAGMENT_LIST",
              "GET_HLS_STREAMING_SESSION_URL", "GET_DASH_STREAMING_SESSION_URL", "GET_CLIP",
              "GET_IMAGES"}
_ACCOUNT = "000000000000"
_FORGET_AFTER_S = 3600.0


@dataclass
class Reply:
    """An HTTP answer."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def aws_error(status: int, code: str, message: str) -> Reply:
    """An AWS rest-json error that botocore turns into ``client.exceptions.<code>``."""
    body = json.dumps({"__type": code, "Message": message, "message": message}).encode()
    return Reply(status, body, headers={"x-amzn-ErrorType": code})


def _json(doc: dict[str, Any]) -> Reply:
    return Reply(200, json.dumps(doc).encode())


@dataclass
class Session:
    """One HLS streaming session (what the SessionToken stands for)."""

    token: str
    stream: str
    expires_mono: float
    max_results: int
    show_time: bool
    discontinuity: str
    requests: int = 0


class KVSEmulator:
    """Streams, sessions and faults, answering control- and data-plane calls."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.base_url = f"http://{config.host}:{config.port}"
        self.bursts = BurstTable()
        self.limiter = RateLimiter() if config.rate_limits else None
        self.session_seconds = config.session_seconds
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._specs = {spec.name: spec for spec in config.streams}
        self.streams = {spec.name: LiveStream(spec.name, self._load(spec), config.backfill)
                        for spec in config.streams}

    @staticmethod
    def _load(spec: StreamSpec, width: int | None = None, height: int | None = None) -> Clip:
        if spec.file is not None and width is None:
            return file_clip(spec.file)
        return synthetic_clip(spec.video_spec(width, height))

    def arn(self, name: str) -> str:
        created = int(self.streams[name].created_wall * 1000)
        return f"arn:aws:kinesisvideo:{self.config.region}:{_ACCOUNT}:stream/{name}/{created}"

    def _stream_of(self, body: dict[str, Any]) -> tuple[str | None, Reply | None]:
        """The stream named by StreamName or StreamARN, or the error to send."""
        name = body.get("StreamName")
        arn = body.get("StreamARN")
        if not name and not arn:
            return None, aws_error(400, "InvalidArgumentException",
                                   "StreamName or StreamARN must be specified")
        if not name:
            parts = str(arn).split("/")
            name = parts[1] if len(parts) >= 3 and parts[0].endswith(":stream") else None
        if name not in self.streams:
            return None, aws_error(404, "ResourceNotFoundException",
                                   f"The requested stream {name or arn} was not found")
        return name, None

    # -- control plane -------------------------------------------------------------------
    def get_data_endpoint(self, body: dict[str, Any]) -> Reply:
        """kinesisvideo GetDataEndpoint: the data endpoint is this server."""
        name, error = self._stream_of(body)
        if error:
            return error
        if body.get("APIName") not in _API_NAMES:
            return aws_error(400, "InvalidArgumentException",
                             f"APIName must be one of {', '.join(sorted(_API_NAMES))}")
        return _json({"DataEndpoint": self.base_url})

    def _stream_info(self, name: str) -> dict[str, Any]:
        return {"DeviceName": f"emulator-{name}", "StreamName": name, "StreamARN": self.arn(name),
                "MediaType": "video/h264", "KmsKeyId": "alias/aws/kinesisvideo",
                "Version": "1", "Status": "ACTIVE", "DataRetentionInHours": 24,
                "CreationTime": self.streams[name].created_wall}

    def describe_stream(self, body: dict[str, Any]) -> Reply:
        """kinesisvideo DescribeStream."""
        name, error = self._stream_of(body)
        return error or _json({"StreamInfo": self._stream_info(name or "")})

    def list_streams(self, body: dict[str, Any]) -> Reply:
        """kinesisvideo ListStreams (StreamNameCondition BEGINS_WITH honoured, one page)."""
        prefix = (body.get("StreamNameCondition") or {}).get("ComparisonValue", "")
        names = sorted(n for n in self.streams if n.startswith(prefix))
        return _json({"StreamInfoList": [self._stream_info(n) for n in names]})

    def get_hls_streaming_session_url(self, body: dict[str, Any]) -> Reply:
        """kinesis-video-archived-media GetHLSStreamingSessionURL (LIVE, FRAGMENTED_MP4)."""
        name, error = self._stream_of(body)
        if error or name is None:
            return error or aws_error(500, "InternalFailure", "no stream")
        invalid = _check_session_args(body)
        if invalid:
            return aws_error(400, "InvalidArgumentException", invalid)
        last = self.streams[name].last_published_mono()
        if last is None or time.monotonic() - last > self.config.idle_window_s:
            return aws_error(404, "ResourceNotFoundException",
                             "No fragments found in the stream for the streaming request.")
        session = self._new_session(name, body)
        url = f"{self.base_url}/hls/v1/getHLSMasterPlaylist.m3u8?SessionToken={session.token}"
        return _json({"HLSStreamingSessionURL": url})

    def _new_session(self, name: str, body: dict[str, Any]) -> Session:
        lifetime = self.session_seconds or float(body.get("Expires") or 300)
        selector = (body.get("HLSFragmentSelector") or {}).get("FragmentSelectorType",
                                                                "SERVER_TIMESTAMP")
        default_mode = "ALWAYS" if selector == "SERVER_TIMESTAMP" else "NEVER"
        session = Session(
            token="CiB" + secrets.token_urlsafe(32), stream=name,
            expires_mono=time.monotonic() + lifetime,
            max_results=int(body.get("MaxMediaPlaylistFragmentResults") or 5),
            show_time=body.get("DisplayFragmentTimestamp", "NEVER") == "ALWAYS",
            discontinuity=body.get("DiscontinuityMode") or default_mode)
        with self._lock:
            self._prune(time.monotonic())
            self._sessions[session.token] = session
        log.info("session for %s, %.0f s", name, lifetime)
        return session

    def _prune(self, now: float) -> None:
        """Forget sessions expired for over ``_FORGET_AFTER_S`` (their token then reads as
        forged: still 403), so a long demo does not grow the table."""
        for token in [t for t, s in self._sessions.items()
                      if now - s.expires_mono > _FORGET_AFTER_S]:
            del self._sessions[token]

    # -- data plane ----------------------------------------------------------------------
    def session_for(self, query: dict[str, str]) -> tuple[Session | None, Reply | None]:
        """The live session named by the query's SessionToken, or the error KVS would send."""
        token = query.get("SessionToken")
        if not token:
            return None, aws_error(400, "MissingParameter", "SessionToken is required")
        with self._lock:
            session = self._sessions.get(token)
        if session is None:
            return None, aws_error(403, "NotAuthorizedException", "Invalid session token")
        if time.monotonic() >= session.expires_mono:
            return None, aws_error(403, "NotAuthorizedException",
                                   "Streaming session token is expired")
        session.requests += 1
        return session, None

    def master(self, session: Session) -> Reply:
        clip = self.streams[session.stream].clip()
        return Reply(200, master_playlist(session.token, clip).encode(),
                     "application/vnd.apple.mpegurl")

    def media(self, session: Session) -> Reply:
        stream = self.streams[session.stream]
        window = stream.window(session.max_results)
        firsts = _first_of_each_rendition(stream.published())
        text = media_playlist(session.token, window, firsts, session.show_time,
                              session.discontinuity)
        return Reply(200, text.encode(), "application/vnd.apple.mpegurl")

    def init(self, session: Session, query: dict[str, str]) -> Reply:
        stream = self.streams[session.stream]
        rendition = 0
        if "FragmentNumber" in query:
            fragment = stream.fragment(query["FragmentNumber"])
            if fragment is None:
                return aws_error(404, "ResourceNotFoundException", "Fragment not found")
            rendition = fragment.rendition
        return Reply(200, stream.clip(rendition).init, "video/mp4")

    def media_fragment(self, session: Session, query: dict[str, str]) -> Reply:
        stream = self.streams[session.stream]
        fragment = stream.fragment(query.get("FragmentNumber", ""))
        if fragment is None:
            return aws_error(404, "ResourceNotFoundException",
                             f"Fragment {query.get('FragmentNumber')} not found")
        return Reply(200, stream.payload(fragment), "video/mp4")

    # -- faults and state ----------------------------------------------------------------
    def expire_sessions(self, stream: str | None = None) -> int:
        """Expire every session (of ``stream``) now; returns how many."""
        now = time.monotonic()
        with self._lock:
            hit = [s for s in self._sessions.values() if stream in (None, s.stream)]
            for session in hit:
                session.expires_mono = min(session.expires_mono, now)
        return len(hit)

    def add_burst(self, burst: ErrorBurst) -> None:
        self.bursts.add(burst)

    def selected(self, stream: str | None) -> list[LiveStream]:
        """The stream named ``stream``, or every stream when ``None``."""
        if stream is not None and stream not in self.streams:
            raise KeyError(f"no stream {stream!r} (have {', '.join(self.streams)})")
        return [live for name, live in self.streams.items() if stream in (None, name)]

    def stall(self, seconds: float | None = None, stream: str | None = None) -> None:
        """Publish no new fragment for ``seconds`` (``None``: until ``resume``)."""
        for live in self.selected(stream):
            live.stall(seconds)

    def resume(self, stream: str | None = None) -> None:
        """End a stall now."""
        for live in self.selected(stream):
            live.resume()

    def corrupt_next(self, count: int = 1, stream: str | None = None) -> None:
        """Fill the middle of the next ``count`` published fragments' samples with garbage."""
        for live in self.selected(stream):
            live.corrupt_next(count)

    def change_resolution(self, width: int, height: int, stream: str | None = None) -> None:
        """From the next fragment on, serve a rendition at ``width``x``height`` (new init)."""
        for live in self.selected(stream):
            live.switch(self._clip_cached(self._specs[live.name], width, height))

    def _clip_cached(self, spec: StreamSpec, width: int, height: int) -> Clip:
        live = self.streams[spec.name]
        for index in range(8):
            try:
                clip = live.clip(index)
            except IndexError:
                break
            if (clip.width, clip.height) == (width, height):
                return clip
        return self._load(spec, width, height)

    def state(self) -> dict[str, Any]:
        """Streams (with published fragments), sessions and pending faults, JSON-able."""
        now = time.monotonic()
        with self._lock:
            sessions = [{"stream": s.stream, "expires_in_s": round(s.expires_mono - now, 3),
                         "requests": s.requests} for s in self._sessions.values()]
        streams = {name: _stream_state(live) for name, live in self.streams.items()}
        return {"base_url": self.base_url, "streams": streams, "sessions": sessions,
                "bursts": self.bursts.pending(), "session_seconds": self.session_seconds}


def _check_session_args(body: dict[str, Any]) -> str | None:
    if body.get("PlaybackMode", "LIVE") != "LIVE":
        return "the emulator serves PlaybackMode LIVE only"
    if body.get("ContainerFormat", "FRAGMENTED_MP4") != "FRAGMENTED_MP4":
        return "the emulator serves ContainerFormat FRAGMENTED_MP4 only"
    results = body.get("MaxMediaPlaylistFragmentResults")
    if results is not None and not 1 <= int(results) <= 5000:
        return "MaxMediaPlaylistFragmentResults must be between 1 and 5000"
    expires = body.get("Expires")
    if expires is not None and not 300 <= int(expires) <= 43200:
        return "Expires must be between 300 and 43200"
    return None


def _first_of_each_rendition(fragments: list[LiveFragment]) -> dict[int, LiveFragment]:
    firsts: dict[int, LiveFragment] = {}
    previous = None
    for fragment in fragments:
        if previous is None or previous.rendition != fragment.rendition:
            firsts[fragment.rendition] = fragment
        previous = fragment
    return firsts


def _stream_state(live: LiveStream) -> dict[str, Any]:
    clip = live.clip()
    return {"width": clip.width, "height": clip.height, "fps": clip.fps, "stalled": live.stalled,
            "fragments": [{"number": f.number, "ordinal": f.ordinal, "rendition": f.rendition,
                           "duration_s": float(f.duration), "start_wall": f.start_wall,
                           "published_wall": f.published_wall,
                           "published_mono": f.published_mono, "corrupt": f.corrupt}
                          for f in live.published()]}
