"""HLS playlists in the shape KVS serves them, with the session token inside every URI.

FFmpeg does not carry a playlist's query string over to the URIs it fetches, so (like KVS) each
URI is relative to ``/hls/v1/`` and carries ``SessionToken`` itself::

    master: getHLSMediaPlaylist.m3u8?SessionToken=T&TrackNumber=1
    media:  #EXT-X-MAP:URI="getMP4InitFragment.mp4?SessionToken=T&TrackNumber=1"
            #EXT-X-PROGRAM-DATE-TIME:...        (DisplayFragmentTimestamp=ALWAYS only)
            #EXTINF:2.000,
            getMP4MediaFragment.mp4?SessionToken=T&FragmentNumber=N&TrackNumber=1

A rendition other than the stream's first (after a resolution change) gets its own init URI,
``getMP4InitFragment.mp4?...&FragmentNumber=<first fragment of that rendition>``, announced by
``#EXT-X-DISCONTINUITY`` and a new ``#EXT-X-MAP`` before its first fragment.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from urllib.parse import urlencode

from kvs_pool.emulator.media import Clip
from kvs_pool.emulator.stream import LiveFragment

__all__ = ["master_playlist", "media_playlist", "init_uri"]


def _query(token: str, **extra: str) -> str:
    return urlencode({"SessionToken": token, **extra, "TrackNumber": "1"})


def init_uri(token: str, fragment: LiveFragment | None, first_of_rendition: LiveFragment | None) -> str:
    """The init-segment URI valid for ``fragment``'s rendition."""
    if fragment is None or fragment.rendition == 0 or first_of_rendition is None:
        return f"getMP4InitFragment.mp4?{_query(token)}"
    return f"getMP4InitFragment.mp4?{_query(token, FragmentNumber=first_of_rendition.number)}"


def master_playlist(token: str, clip: Clip) -> str:
    """The master playlist: one variant, the media playlist."""
    bandwidth = sum(len(f) for f in clip.fragments) * 8 * clip.timescale // max(clip.total, 1)
    return (
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n"
        f'#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},CODECS="{clip.codecs}",'
        f"RESOLUTION={clip.width}x{clip.height},FRAME-RATE={clip.fps:.3f}\n"
        f"getHLSMediaPlaylist.m3u8?{_query(token)}\n")


def _pdt(wall: float) -> str:
    stamp = datetime.fromtimestamp(wall, tz=UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def media_playlist(token: str, window: list[LiveFragment], firsts: dict[int, LiveFragment],
                   show_time: bool, discontinuity: str) -> str:
    """The live sliding-window media playlist over ``window`` (oldest first).

    ``firsts`` maps a rendition to its first fragment (for init URIs); ``discontinuity`` is the
    session's DiscontinuityMode (ALWAYS | NEVER | ON_DISCONTINUITY); a rendition change is
    always marked, since its init segment differs.
    """
    target = max((math.ceil(f.duration) for f in window), default=2)
    head = window[0] if window else None
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", f"#EXT-X-TARGETDURATION:{target}",
             f"#EXT-X-MEDIA-SEQUENCE:{head.ordinal if head else 0}",
             f'#EXT-X-MAP:URI="{init_uri(token, head, firsts.get(head.rendition) if head else None)}"']
    for previous, fragment in zip([None, *window], window):
        new_rendition = previous is not None and previous.rendition != fragment.rendition
        if previous is not None and (new_rendition or discontinuity == "ALWAYS"
                                     or (discontinuity == "ON_DISCONTINUITY" and fragment.discontinuity)):
            lines.append("#EXT-X-DISCONTINUITY")
        if new_rendition:
            uri = init_uri(token, fragment, firsts.get(fragment.rendition))
            lines.append(f'#EXT-X-MAP:URI="{uri}"')
        if show_time:
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{_pdt(fragment.start_wall)}")
        lines.append(f"#EXTINF:{float(fragment.duration):.3f},")
        lines.append(f"getMP4MediaFragment.mp4?{_query(token, FragmentNumber=fragment.number)}")
    return "\n".join(lines) + "\n"
