"""Media/master playlist parsing in the shape KVS serves it (tokens in every URI)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kvs_pool.errors import HLSStreamError
from kvs_pool.sources.hls_playlist import parse_master, parse_media, redact, stable_key

BASE = "https://b-1234.kinesisvideo.eu-west-1.amazonaws.com/hls/v1/"

MASTER = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-STREAM-INF:BANDWIDTH=800000,CODECS="avc1.64001e",RESOLUTION=640x360,FRAME-RATE=25.000
getHLSMediaPlaylist.m3u8?SessionToken=T1&TrackNumber=1
"""

MEDIA = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:41
#EXT-X-MAP:URI="getMP4InitFragment.mp4?SessionToken=T1&TrackNumber=1"
#EXT-X-PROGRAM-DATE-TIME:2026-11-24T12:00:00.000Z
#EXTINF:2.000,
getMP4MediaFragment.mp4?SessionToken=T1&FragmentNumber=9100&TrackNumber=1
#EXT-X-PROGRAM-DATE-TIME:2026-11-24T12:00:02.000Z
#EXTINF:2.000,
getMP4MediaFragment.mp4?SessionToken=T1&FragmentNumber=9101&TrackNumber=1
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI="getMP4InitFragment.mp4?SessionToken=T1&FragmentNumber=9102&TrackNumber=1"
#EXT-X-PROGRAM-DATE-TIME:2026-11-24T12:00:04.000Z
#EXTINF:1.960,
getMP4MediaFragment.mp4?SessionToken=T1&FragmentNumber=9102&TrackNumber=1
"""


def test_master_gives_the_absolute_media_playlist_url() -> None:
    url = parse_master(MASTER, BASE + "getHLSMasterPlaylist.m3u8?SessionToken=T1")
    assert url == BASE + "getHLSMediaPlaylist.m3u8?SessionToken=T1&TrackNumber=1"


def test_media_playlist_fragments_times_and_init_segments() -> None:
    playlist = parse_media(MEDIA, BASE + "getHLSMediaPlaylist.m3u8?SessionToken=T1&TrackNumber=1")
    assert playlist.target_duration == 2.0 and playlist.media_sequence == 41
    first, second, third = playlist.fragments
    assert [f.key for f in playlist.fragments] == ["9100", "9101", "9102"]
    assert [f.sequence for f in playlist.fragments] == [41, 42, 43]
    noon = datetime(2026, 11, 24, 12, tzinfo=UTC).timestamp()
    assert first.program_time == pytest.approx(noon)
    assert third.program_time == pytest.approx(noon + 4)
    assert third.duration == pytest.approx(1.96)
    assert first.uri.startswith(BASE + "getMP4MediaFragment.mp4?SessionToken=T1")
    assert first.init_uri == second.init_uri != third.init_uri
    assert (first.discontinuity, second.discontinuity, third.discontinuity) == (False, False, True)


def test_identity_survives_a_new_session_token() -> None:
    a = parse_media(MEDIA, BASE + "getHLSMediaPlaylist.m3u8?SessionToken=T1")
    b = parse_media(MEDIA.replace("T1", "T2"), BASE + "getHLSMediaPlaylist.m3u8?SessionToken=T2")
    assert [f.key for f in a.fragments] == [f.key for f in b.fragments]
    assert a.fragments[0].uri != b.fragments[0].uri
    assert stable_key(a.fragments[2].init_uri or "") == stable_key(b.fragments[2].init_uri or "")
    assert stable_key(a.fragments[0].init_uri or "") != stable_key(a.fragments[2].init_uri or "")


def test_no_program_date_time_leaves_the_time_unknown() -> None:
    text = "\n".join(line for line in MEDIA.splitlines() if "PROGRAM-DATE-TIME" not in line)
    playlist = parse_media(text, BASE + "x.m3u8")
    assert all(f.program_time is None for f in playlist.fragments)


@pytest.mark.parametrize("text", ["<html>oops</html>", "", "#EXTM3U\n#EXTINF:abc,\nx.mp4\n",
                                  "#EXTM3U\n#EXT-X-PROGRAM-DATE-TIME:yesterday\n#EXTINF:2,\nx.mp4\n"])
def test_garbage_is_an_hls_error_without_the_token(text: str) -> None:
    with pytest.raises(HLSStreamError) as caught:
        parse_media(text, BASE + "getHLSMediaPlaylist.m3u8?SessionToken=SECRET")
    assert "SECRET" not in str(caught.value)
    assert "getHLSMediaPlaylist.m3u8" in str(caught.value)


def test_master_without_variant_is_an_error() -> None:
    with pytest.raises(HLSStreamError, match="no variant"):
        parse_master("#EXTM3U\n#EXT-X-VERSION:7\n", BASE + "m.m3u8")


def test_redact_drops_the_query() -> None:
    assert redact(BASE + "a.mp4?SessionToken=S&FragmentNumber=1") == BASE + "a.mp4"
