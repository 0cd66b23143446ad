"""Parse the two HLS playlists a KVS live session serves: the master (one variant) and the
sliding-window media playlist of fMP4 fragments.

Only the tags KVS emits are read (RFC 8216 names)::

    master:  #EXT-X-STREAM-INF:...            the next URI line is the media playlist
    media:   #EXT-X-TARGETDURATION:<s>        upper bound of a fragment's duration
             #EXT-X-MEDIA-SEQUENCE:<n>        sequence number of the first fragment listed
             #EXT-X-MAP:URI="<init>"          init segment of the fragments that follow
             #EXT-X-DISCONTINUITY             the next fragment may change codec data/resolution
             #EXT-X-PROGRAM-DATE-TIME:<iso>   wall-clock start of the next fragment
             #EXTINF:<s>,                     duration of the next fragment; its URI follows

URIs are resolved against the playlist's own URL. A fragment's identity across sessions is its
KVS ``FragmentNumber`` query parameter (stable for the stream, unlike the media sequence, which
each session numbers afresh); an init segment's identity is its URI without ``SessionToken``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TypedDict
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from kvs_pool.errors import HLSStreamError

__all__ = ["Fragment", "MediaPlaylist", "parse_master", "parse_media", "stable_key", "redact"]


@dataclass(frozen=True)
class Fragment:
    """One media fragment listed in a media playlist."""

    uri: str                      # absolute, with the session token
    key: str                      # stable identity across sessions (FragmentNumber, else URI)
    sequence: int                 # media sequence number within this session's playlist
    duration: float               # seconds (EXTINF)
    init_uri: str | None          # absolute URI of the init segment it needs
    program_time: float | None    # Unix seconds of its start (EXT-X-PROGRAM-DATE-TIME)
    discontinuity: bool = False   # preceded by EXT-X-DISCONTINUITY


@dataclass
class MediaPlaylist:
    """A parsed media playlist: the fragments in order, oldest first."""

    target_duration: float
    media_sequence: int
    fragments: list[Fragment] = field(default_factory=list)


def stable_key(uri: str) -> str:
    """A URI's identity across sessions: ``FragmentNumber`` if present, else the URI with the
    ``SessionToken`` parameter removed."""
    parts = urlsplit(uri)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "SessionToken"]
    number = dict(query).get("FragmentNumber")
    if number is not None and "getMP4MediaFragment" in parts.path:
        return number
    return urlunsplit(("", "", parts.path, urlencode(query), ""))


def _lines(text: str, url: str) -> list[str]:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != "#EXTM3U":
        raise HLSStreamError(f"not an HLS playlist (no #EXTM3U) at {redact(url)}")
    return lines


def redact(url: str) -> str:
    """A URL fit for logs and messages: the path without the session token."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def parse_master(text: str, url: str) -> str:
    """The absolute URL of the first variant's media playlist."""
    lines = _lines(text, url)
    for at, line in enumerate(lines):
        if line.startswith("#EXT-X-STREAM-INF") and at + 1 < len(lines):
            return urljoin(url, lines[at + 1])
    if any(line.startswith("#EXTINF") for line in lines):
        return url   # already a media playlist
    raise HLSStreamError(f"master playlist lists no variant at {redact(url)}")


def _attr_uri(line: str) -> str:
    start = line.find('URI="')
    if start < 0:
        raise ValueError("EXT-X-MAP without URI")
    start += 5
    return line[start:line.index('"', start)]


def _program_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


class _Tags(TypedDict, total=False):
    """The tags read since the last fragment URI: they describe the next fragment."""

    duration: float
    program_time: float
    discontinuity: bool


def parse_media(text: str, url: str) -> MediaPlaylist:
    """Parse a media playlist; raises ``HLSStreamError`` when it is not one."""
    lines = _lines(text, url)
    playlist = MediaPlaylist(target_duration=0.0, media_sequence=0)
    init: str | None = None
    pending: _Tags = {}
    try:
        for line in lines[1:]:
            if line.startswith("#EXT-X-TARGETDURATION:"):
                playlist.target_duration = float(line.split(":", 1)[1])
            elif line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
                playlist.media_sequence = int(line.split(":", 1)[1])
            elif line.startswith("#EXT-X-MAP:"):
                init = urljoin(url, _attr_uri(line))
            elif line.startswith("#EXT-X-DISCONTINUITY") and not line.startswith("#EXT-X-DISCONTINUITY-"):
                pending["discontinuity"] = True
            elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
                pending["program_time"] = _program_time(line.split(":", 1)[1])
            elif line.startswith("#EXTINF:"):
                pending["duration"] = float(line.split(":", 1)[1].split(",", 1)[0])
            elif not line.startswith("#"):
                playlist.fragments.append(_fragment(playlist, url, line, init, pending))
                pending = {}
    except (ValueError, IndexError) as err:
        raise HLSStreamError(f"malformed media playlist at {redact(url)}: {err}") from err
    return playlist


def _fragment(playlist: MediaPlaylist, url: str, line: str, init: str | None,
              pending: _Tags) -> Fragment:
    uri = urljoin(url, line)
    return Fragment(
        uri=uri, key=stable_key(uri),
        sequence=playlist.media_sequence + len(playlist.fragments),
        duration=pending.get("duration", playlist.target_duration),
        init_uri=init,
        program_time=pending.get("program_time"),
        discontinuity=pending.get("discontinuity", False))
