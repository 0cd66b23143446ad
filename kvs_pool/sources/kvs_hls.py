"""``KVSHLSFrameSource``: BGR frames with capture timestamps from one Kinesis Video Stream, read
over its HLS (fragmented MP4) live playback, usable alone or inside the decoder worker::

    with KVSHLSFrameSource(camera_id="door", stream_name="door", region="eu-west-1") as source:
        for frame, ts in source.read_frames():     # frame: (h, w, 3) uint8 BGR, ts: Unix s
            ...

How it reads (and why not ``cv2.VideoCapture(session_url)``): the source fetches the media
playlist itself about once a second (AWS's advice), downloads each new fragment with the session
token, and feeds init segment + fragment to a persistent PyAV decoder (``hls_decode``). That lets
it (1) timestamp frames from the fragment's ``EXT-X-PROGRAM-DATE-TIME``, which neither cv2 nor
PyAV expose when they open the URL; (2) swap the session URL between two fragments without
reopening the decoder or losing a fragment (a fragment is identified by its KVS FragmentNumber,
which stays the same across sessions); (3) tell a 403 (expired session: refresh) from a 5xx
(back off) from a stall (no new fragment for ``stall_fragments`` x the target duration), where
cv2 only sees "end of stream"; (4) decode key frames only when ``target_fps`` allows.
Cost: the fragment's samples are read from its box headers (``fmp4``, no demuxer per
fragment), decoded in one thread, and each kept frame is colour-converted by libswscale straight
into the loaned buffer (``swscale``, no intermediate array), so the source costs about what a
bare decode delivering frames at the stream's rate costs. ``python benchmarks/kvs.py --quick
--size 1280x720`` prints the source's CPU per frame next to cv2 decoding the same file in a tight
loop and paced into a ring, same run; ``benchmarks/kvs_hls_source.py`` compares it with
``cv2.VideoCapture(session_url).read(buf)`` and gives the key-frame-only cost.

Timestamps a consumer gets: ``ts = PDT of the fragment + (frame pts - fragment's first pts)``,
i.e. the producer's (or KVS server's) capture time of each frame, in Unix seconds. Only when a
playlist lists no program date-time does the source use the wall clock when the fragment was
downloaded + the same pts offset (frames of one fragment keep their spacing).

Pacing (``pace=True``, the default): HLS hands over a fragment (1-2 s of video) at once, and
decoded at once its frames would lap a consumer's ring in a few ms and then stop for a second.
The source releases each kept frame at its stream time instead (``kvs_pool.sources.pacing``):
it decodes one frame, sleeps until it is due (heart-beating, stoppable), then fills the loaned
buffer and yields it. Playback is anchored when the first frame goes out and carries across
fragments; a fragment that comes a little late is caught up at up to 2x the stream's rate (no
burst), one later by more than a fragment re-anchors, so pacing adds at most about one fragment
of latency. While the paced stream waits for its next fragment, the playlist is polled every
``starved_poll_s`` instead of ``playlist_poll_s``. Fragments listed behind a newer one (a
backlog after an outage) go out unpaced, so latency never accumulates. ``pace=False`` gives the
raw bursts (benchmarks). Errors: see
``kvs_errors`` (typed, AWS code in the message; fatal ones raise at once, the rest back off with
``kvs_pool.backoff`` ×2, jitter 80-120 %, 5 -> 60 s, and after ``max_consecutive_errors``
without a frame the source enters state ERROR and raises ``KVSConnectionError``).

"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections import OrderedDict, deque
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kvs_pool.backoff import Backoff, BackoffPolicy
from kvs_pool.errors import FrameSourceError, HLSStreamError, KVSConnectionError, KVSPermanentError
from kvs_pool.sources.base import BufferFactory, SourceControl, SourceState, SourceStats
from kvs_pool.sources.hls_decode import DecodedFrame, FragmentDecoder
from kvs_pool.sources.hls_fetch import Fetcher, FetchOptions
from kvs_pool.sources.hls_playlist import Fragment, MediaPlaylist, parse_master, parse_media, stable_key
from kvs_pool.sources.kvs_errors import Action, FragmentDecodeError, HLSResponseError, action_for
from kvs_pool.sources.kvs_session import KVSSession, SessionOptions, SessionURL
from kvs_pool.sources.pacing import Pacer
from kvs_pool.sources.sampling import PLAN_KEYFRAMES, Sampler, choose_plan
from kvs_pool.sources.swscale import BGRConverter

__all__ = ["KVSSourceOptions", "KVSHLSFrameSource"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KVSSourceOptions:
    """Everything a KVS HLS source can be told (all optional but the session's stream).
    ``session`` says which stream and how sessions are asked for (``kvs_session``)."""

    session: SessionOptions = field(default_factory=SessionOptions)
    target_fps: float | None = None           # deliver at most this rate (None: every frame)
    playlist_poll_s: float = 1.0              # media playlist fetch interval
    stall_fragments: float = 3.0              # stalled after this many target durations ...
    stall_timeout_s: float | None = None      # ... or after exactly this long, if set
    max_consecutive_errors: int = 10          # then state ERROR and KVSConnectionError
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    idle_retry_s: float = 30.0                # least wait when the stream has no fragments
    connect_timeout_s: float = 5.0            # HTTP timeouts of playlist/fragment fetches
    read_timeout_s: float = 10.0
    pace: bool = True                         # release frames at the stream's rate, not in bursts
    starved_poll_s: float = 0.25              # paced: playlist poll interval while waiting
    rng: random.Random | None = None          # backoff jitter source (tests: seeded)


_SESSION_FIELDS = frozenset(f.name for f in dataclasses.fields(SessionOptions))


def _with_settings(base: KVSSourceOptions, settings: dict[str, Any]) -> KVSSourceOptions:
    """``base`` with ``settings`` replaced, each in the options or their session it names."""
    session = {k: v for k, v in settings.items() if k in _SESSION_FIELDS}
    own = {k: v for k, v in settings.items() if k not in _SESSION_FIELDS}
    return dataclasses.replace(base, session=dataclasses.replace(base.session, **session), **own)


def _new_array(height: int, width: int, channels: int) -> np.ndarray:
    return np.empty((height, width, channels), np.uint8)


class _FragmentTracker:
    """Which listed fragments are new: not taken before (by FragmentNumber) and not older than
    the last one taken; the very first playlist starts at its newest fragment (live edge)."""

    def __init__(self) -> None:
        self._taken: deque[str] = deque(maxlen=256)
        self.last: Fragment | None = None

    def fresh(self, playlist: MediaPlaylist) -> list[Fragment]:
        if self.last is None:
            return playlist.fragments[-1:]
        last_time = self.last.program_time
        return [f for f in playlist.fragments if f.key not in self._taken
                and (last_time is None or f.program_time is None or f.program_time > last_time)]

    def take(self, fragment: Fragment) -> float:
        """Mark ``fragment`` taken; returns the gap (s) since the end of the previous one."""
        gap = 0.0
        if self.last is not None and self.last.program_time and fragment.program_time:
            gap = fragment.program_time - (self.last.program_time + self.last.duration)
        self._taken.append(fragment.key)
        self.last = fragment
        return gap


class KVSHLSFrameSource:
    """A ``FrameSource`` over a KVS stream's HLS live playback (see the module docstring)."""

    def __init__(self, camera_id: str, stream_name: str | None = None, region: str | None = None,
                 *, options: KVSSourceOptions | None = None, control: SourceControl | None = None,
                 **settings: Any) -> None:
        """``settings`` override fields of ``options`` or of its ``session`` (e.g.
        ``endpoint_url=``, ``target_fps=``)."""
        base = options or KVSSourceOptions()
        given = {"stream_name": stream_name, "region": region}
        settings = {**{k: v for k, v in given.items() if v is not None}, **settings}
        self.options = _with_settings(base, settings)
        self.camera_id = camera_id
        self.control = control or SourceControl()
        self.stats = SourceStats()
        self.last_fragment: str | None = None
        self._clock = self.control.clock
        self._session = KVSSession(self.options.session, self._clock, self._count_refresh)
        self._fetcher = Fetcher(FetchOptions(self.options.connect_timeout_s,
                                             self.options.read_timeout_s))
        self._decoder = FragmentDecoder()
        self._converter = BGRConverter()
        self._backoff = Backoff(self.options.backoff, self.options.rng or random.Random())
        self._tracker = _FragmentTracker()
        self._pacer = Pacer(self.control)
        self._sampler: Sampler | None = None   # built once the stream's rate is known
        self._inits: OrderedDict[str, bytes] = OrderedDict()
        self._target_duration = 2.0
        self._last_progress_mono = self._clock()
        self._refreshed_for_403 = False
        self._frames_iter: Generator[tuple[np.ndarray, float], None, None] | None = None

    # -- public API ------------------------------------------------------------------------

    def __enter__(self) -> KVSHLSFrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the HTTP pool and the decoder; state DISCONNECTED unless in ERROR."""
        if self._frames_iter is not None:
            self._frames_iter.close()
            self._frames_iter = None
        self._fetcher.close()
        self._decoder.close()
        self._converter.close()
        if self.stats.state != SourceState.ERROR:
            self.stats.state = SourceState.DISCONNECTED

    def read_frames(self, into: BufferFactory | None = None
                    ) -> Generator[tuple[np.ndarray, float], None, None]:
        """Yield ``(bgr, capture_ts)`` until ``control.stop`` is set; raises
        ``KVSConnectionError`` on a fatal AWS error or after too many consecutive errors."""
        try:
            while not self.control.stopped():
                try:
                    yield from self._follow(into)
                except FrameSourceError as err:
                    if not self._recover(err):
                        break
        finally:
            if self.stats.state != SourceState.ERROR:
                self.stats.state = SourceState.DISCONNECTED

    def read_frame(self) -> tuple[np.ndarray, float] | None:
        """The next frame (a fresh array) and its timestamp, or None once stopped."""
        if self._frames_iter is None:
            self._frames_iter = self.read_frames()
        return next(self._frames_iter, None)

    def is_healthy(self) -> bool:
        """Connected, and a frame was delivered within the stall timeout (or, at a low
        ``target_fps``, within five target intervals)."""
        if self.stats.state != SourceState.CONNECTED or self.stats.last_frame_mono is None:
            return False
        target = self.options.target_fps
        limit = max(self._stall_timeout(), 5.0 / target if target else 0.0)
        return self._clock() - self.stats.last_frame_mono <= limit

    def refresh_url(self) -> None:
        """Ask for a new session URL now (thread-safe); the reader switches at the next fragment."""
        self._session.refresh()

    # -- the reading loop ------------------------------------------------------------------

    def _follow(self, into: BufferFactory | None) -> Iterator[tuple[np.ndarray, float]]:
        """Frames of the current session until stopped; raises on any fault."""
        if self.stats.state not in (SourceState.RECONNECTING, SourceState.CONNECTED):
            self.stats.state = SourceState.CONNECTING
        session, media_url = self._open(None)
        last_new = self._clock()
        while not self.control.stopped():
            polled = self._clock()
            session, media_url = self._open(session, media_url)
            playlist = self._playlist(media_url)
            fresh = self._tracker.fresh(playlist)
            for n, fragment in enumerate(fresh, 1):
                yield from self._fragment_frames(fragment, into, paced=n == len(fresh))
                last_new = self._clock()
            if not fresh:
                self._check_stall(last_new)
            if not self.control.wait(self._poll_interval(bool(fresh)) - (self._clock() - polled)):
                return

    def _poll_interval(self, got_fragment: bool) -> float:
        """``playlist_poll_s``; shorter while a paced stream waits for its next fragment, so a
        just-missed fragment costs ``starved_poll_s`` of delay, not a whole poll interval."""
        if got_fragment or not self.options.pace:
            return self.options.playlist_poll_s
        return min(self.options.playlist_poll_s, self.options.starved_poll_s)

    def _open(self, session: SessionURL | None, media_url: str = "") -> tuple[SessionURL, str]:
        """The current session and its media playlist URL: unchanged while ``session`` is still
        current, else from the new session's master playlist (a refresh happens here)."""
        latest = self._session.current()
        if latest is session:
            return session, media_url
        session = latest
        master = self._fetcher.get(session.url, "master playlist").decode("utf-8", "replace")
        return session, parse_master(master, session.url)

    def _playlist(self, media_url: str) -> MediaPlaylist:
        text = self._fetcher.get(media_url, "media playlist").decode("utf-8", "replace")
        playlist = parse_media(text, media_url)
        self._target_duration = playlist.target_duration or self._target_duration
        if self.stats.state != SourceState.CONNECTED:
            self.stats.state = SourceState.CONNECTED
            log.info("%s: connected to %s", self.camera_id, self.options.session.stream)
        self._progress()
        return playlist

    def _check_stall(self, last_new: float) -> None:
        waited = self._clock() - last_new
        if waited > self._stall_timeout():
            raise HLSStreamError(f"stream stalled: no new fragment for {waited:.1f} s "
                                 f"(limit {self._stall_timeout():.1f} s)")

    def _stall_timeout(self) -> float:
        if self.options.stall_timeout_s is not None:
            return self.options.stall_timeout_s
        return max(self.options.stall_fragments * self._target_duration,
                   3 * self.options.playlist_poll_s)

    # -- fragments and frames --------------------------------------------------------------

    def _init_segment(self, fragment: Fragment) -> bytes:
        if fragment.init_uri is None:
            raise HLSStreamError("media playlist has no EXT-X-MAP (not fragmented MP4?)")
        key = stable_key(fragment.init_uri)
        if key not in self._inits:
            self._inits[key] = self._fetcher.get(fragment.init_uri, "init segment")
            while len(self._inits) > 4:
                self._inits.popitem(last=False)
        return self._inits[key]

    def _fragment_frames(self, fragment: Fragment, into: BufferFactory | None, paced: bool
                         ) -> Iterator[tuple[np.ndarray, float]]:
        """Frames of ``fragment``: paced (``Pacer``) when asked and ``options.pace``; else at
        once (backlog fragments older than the newest listed: catching up)."""
        paced = paced and self.options.pace
        if not paced:
            self._pacer.reset()
        init = self._init_segment(fragment)
        data = self._fetch_fragment(fragment)
        if data is None:
            return
        base = fragment.program_time if fragment.program_time is not None else time.time()
        gap = self._tracker.take(fragment)
        if gap > 0.5:
            log.warning("%s: %.1f s of stream missed before fragment %s", self.camera_id, gap, fragment.key)
        self.last_fragment = fragment.key
        self._decoder.keyframes_only = self._keyframes_only()
        try:
            for decoded in self._decoder.decode(init, data):
                ts = base + decoded.offset_s
                if not self._keep(ts, fragment):
                    self.stats.skipped += 1
                    continue
                if paced and not self._pacer.wait_for(ts, fragment.duration):
                    return
                yield self._deliver(decoded, ts, into)
        except FragmentDecodeError as err:
            self._inits.pop(stable_key(fragment.init_uri or ""), None)  # refetch init next time
            self.stats.failed(f"fragment {fragment.key}: {err}")
            log.warning("%s: skipped fragment %s: %s", self.camera_id, fragment.key, err)
        self._progress()

    def _fetch_fragment(self, fragment: Fragment) -> bytes | None:
        """The fragment's bytes; None (fragment skipped) if it left KVS's window meanwhile."""
        try:
            return self._fetcher.get(fragment.uri, f"fragment {fragment.key}")
        except HLSResponseError as err:
            if err.status != 404:
                raise
            self._tracker.take(fragment)
            self.stats.failed(str(err))
            log.warning("%s: fragment %s gone before it was fetched: %s", self.camera_id,
                        fragment.key, err)
            return None

    def _keyframes_only(self) -> bool:
        """Decode key frames only when the target rate is at most the key-frame rate."""
        info, last = self._decoder.info, self._tracker.last
        if not self.options.target_fps or not info.keyframes or last is None:
            return False
        duration = max(last.duration, 1e-3)
        plan = choose_plan(self.options.target_fps, info.packets / duration,
                           info.keyframes / duration)
        return plan == PLAN_KEYFRAMES

    def _keep(self, ts: float, fragment: Fragment) -> bool:
        """``target_fps`` on stream time (``sampling.Sampler``); every frame when unset."""
        if not self.options.target_fps:
            return True
        if self._sampler is None:
            fps = self._decoder.info.packets / max(fragment.duration, 1e-3)
            self._sampler = Sampler(self.options.target_fps, fps)
        return self._sampler.take(ts)

    def _deliver(self, decoded: DecodedFrame, ts: float, into: BufferFactory | None
                 ) -> tuple[np.ndarray, float]:
        out = self._converter.convert(decoded.frame, into or _new_array)
        self.stats.delivered(ts, self._clock())
        self._backoff.reset()
        self._refreshed_for_403 = False
        return out, ts

    # -- errors ----------------------------------------------------------------------------

    def _recover(self, err: FrameSourceError) -> bool:
        """Handle ``err`` (see ``kvs_errors``); False if stopped while waiting, raises if fatal."""
        action = action_for(err)
        # REFRESH answers an HTTP 403 of the data plane (an ``HLSStreamError`` with its status).
        if action is Action.REFRESH and isinstance(err, HLSStreamError) \
                and not self._refreshed_for_403:
            self._refreshed_for_403 = True
            self.stats.read_errors += 1
            self.stats.last_error = str(err)
            log.info("%s: %s", self.camera_id, err)
            self._session.refresh(stale=self._session.session, reason=f"after HTTP {err.status}")
            return True
        self._count_error(err, action)  # a fatal one too: a missing stream is an error
        if action is Action.FATAL:
            self._fail(err)
        if self.stats.consecutive_errors >= self.options.max_consecutive_errors:
            self._fail(err, giving_up=True)
        delay = self._backoff.next_delay()
        if action is Action.IDLE:
            delay = max(delay, self.options.idle_retry_s)
        if action is Action.REFRESH or not (isinstance(err, HLSStreamError) and err.status):
            self._session.reset()   # 403 again, stall, network or control plane: new session
        self.stats.state = SourceState.RECONNECTING
        self.stats.reconnects += 1
        log.warning("%s: %s; reconnecting in %.1f s", self.camera_id, err, delay)
        return self.control.wait(delay)

    def _count_error(self, err: FrameSourceError, action: Action) -> None:
        if action is Action.IDLE:   # an idle producer is no fault of this camera
            self.stats.read_errors += 1
            self.stats.last_error = str(err)
        else:
            self.stats.failed(str(err))

    def _fail(self, err: FrameSourceError, giving_up: bool = False) -> None:
        self.stats.state = SourceState.ERROR
        self.stats.last_error = str(err)
        code = getattr(err, "code", None)
        if giving_up:   # transient errors, too many in a row: retryable (normal backoff)
            message = (f"{self.camera_id}: giving up after {self.stats.consecutive_errors} "
                       f"consecutive errors; last: {err}")
            raise KVSConnectionError(message, code=code) from err
        if isinstance(err, KVSPermanentError):
            raise err
        raise KVSPermanentError(f"{self.camera_id}: {err}", code=code) from err

    def _count_refresh(self) -> None:
        self.stats.url_refreshes += 1

    def _progress(self) -> None:
        now = self._clock()
        if now - self._last_progress_mono >= 0.2:
            self._last_progress_mono = now
            self.control.progress()
