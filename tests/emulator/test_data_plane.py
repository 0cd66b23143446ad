"""The HLS data plane at the HTTP level: playlists, fragments, expiry and every fault."""

from __future__ import annotations

import io
import json
import re
import time
import urllib.error
import urllib.request
from urllib.parse import parse_qs, urljoin, urlsplit

import av
import pytest
from emu_world import STREAM, fetch, session_url
from polling import wait_for

from kvs_pool.emulator import EmulatorServer, mp4

URI = re.compile(r'^(get\S+)$|URI="([^"]+)"', re.M)


def uris(playlist: str) -> list[str]:
    return [a or b for a, b in URI.findall(playlist)]


def media_url(master_url: str) -> str:
    status, _, body = fetch(master_url)
    assert status == 200
    return urljoin(master_url, uris(body.decode())[0])


def playlist(url: str) -> str:
    status, headers, body = fetch(url)
    assert status == 200, body
    assert headers["Content-Type"] == "application/vnd.apple.mpegurl"
    return body.decode()


def control(emu: EmulatorServer, **doc: object) -> dict:
    request = urllib.request.Request(f"{emu.base_url}/_emulator/faults", method="POST",
                                     data=json.dumps(doc).encode())
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def test_every_uri_carries_the_session_token(emu: EmulatorServer) -> None:
    master = session_url(emu, DisplayFragmentTimestamp="ALWAYS")
    token = parse_qs(urlsplit(master).query)["SessionToken"][0]
    media = media_url(master)
    text = playlist(media)
    found = uris(text)
    assert len(found) == 1 + 5                              # init + default window of 5
    for uri in found:
        assert parse_qs(urlsplit(uri).query)["SessionToken"] == [token]
        status, _, body = fetch(urljoin(media, uri))
        assert status == 200 and body[4:8] in (b"ftyp", b"moof")
    assert text.count("#EXT-X-PROGRAM-DATE-TIME:") == 5


def test_window_slides_with_wall_time(emu: EmulatorServer) -> None:
    media = media_url(session_url(emu, MaxMediaPlaylistFragmentResults=3,
                                  DisplayFragmentTimestamp="NEVER"))
    first = playlist(media)
    assert "#EXT-X-PROGRAM-DATE-TIME" not in first
    assert len([u for u in uris(first) if "MediaFragment" in u]) == 3

    def sequence(text: str) -> int:
        return int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text)[1])

    start = sequence(first)
    later = wait_for(lambda: (lambda t: t if sequence(t) >= start + 2 else None)(playlist(media)))
    assert len([u for u in uris(later) if "MediaFragment" in u]) == 3
    state = emu.state()["streams"][STREAM]["fragments"]
    published = [f["published_wall"] for f in state]
    assert published == sorted(published) and published[-1] <= time.time()


def test_fragments_decode_in_order_with_increasing_time(emu: EmulatorServer) -> None:
    media = media_url(session_url(emu))
    wait_for(lambda: len(emu.state()["streams"][STREAM]["fragments"]) >= 10, timeout=30)
    text = playlist(media)
    data = io.BytesIO()
    for uri in uris(text):
        data.write(fetch(urljoin(media, uri))[2])
    data.seek(0)
    with av.open(data, format="mp4") as container:
        times = [frame.time for frame in container.decode(video=0)]
    assert len(times) == 5 * 5 and times == sorted(times)


def test_expired_session_is_403_with_kvs_body(emu: EmulatorServer) -> None:
    master = session_url(emu)
    media = media_url(master)
    fragment = urljoin(media, uris(playlist(media))[-1])
    assert control(emu, fault="expire_sessions")["expired"] == 1
    for url in (master, media, fragment):
        status, headers, body = fetch(url)
        assert status == 403 and headers["x-amzn-ErrorType"] == "NotAuthorizedException"
        assert json.loads(body)["Message"] == "Streaming session token is expired"
    assert fetch(session_url(emu))[0] == 200              # a new session works at once


def test_short_session_lifetime_expires_by_itself(emu: EmulatorServer) -> None:
    control(emu, fault="session_seconds", seconds=1.5)
    master = session_url(emu, Expires=300)
    assert fetch(master)[0] == 200
    wait_for(lambda: fetch(master)[0] == 403, timeout=20)
    emu.set_session_seconds(None)
    assert emu.state()["session_seconds"] is None


def test_unknown_token_and_missing_token(emu: EmulatorServer) -> None:
    base = f"{emu.base_url}/hls/v1/getHLSMediaPlaylist.m3u8"
    assert fetch(f"{base}?SessionToken=forged")[0] == 403
    assert fetch(base)[0] == 400
    assert fetch(f"{emu.base_url}/nothing-here")[0] == 404


@pytest.mark.parametrize("status,code", [(403, "NotAuthorizedException"), (500, "InternalFailure"),
                                         (400, "ClientLimitExceededException")])
def test_data_plane_error_bursts(emu: EmulatorServer, status: int, code: str) -> None:
    media = media_url(session_url(emu))
    fault = "throttle" if status == 400 else "error_burst"
    control(emu, fault=fault, status=status, count=2, plane="data", api="GetHLSMediaPlaylist")
    for _ in range(2):
        got, headers, _ = fetch(media)
        assert got == status and headers["x-amzn-ErrorType"] == code
    assert fetch(media)[0] == 200


def test_stall_freezes_the_playlist_then_resumes(emu: EmulatorServer) -> None:
    media = media_url(session_url(emu))
    control(emu, fault="stall", seconds=None)
    frozen = uris(playlist(media))
    time.sleep(1.2)                                          # > 2 fragment durations
    assert uris(playlist(media)) == frozen
    assert emu.state()["streams"][STREAM]["stalled"] is True
    control(emu, fault="resume")
    wait_for(lambda: uris(playlist(media)) != frozen, timeout=20)
    text = playlist(media)
    assert "#EXT-X-DISCONTINUITY" in text                   # gap marked (ALWAYS mode anyway)


def test_stall_for_a_duration_ends_by_itself(emu: EmulatorServer) -> None:
    media = media_url(session_url(emu, DiscontinuityMode="ON_DISCONTINUITY"))
    assert "#EXT-X-DISCONTINUITY" not in playlist(media)
    emu.stall(1.0)
    before = uris(playlist(media))
    wait_for(lambda: uris(playlist(media)) != before, timeout=20)
    wait_for(lambda: "#EXT-X-DISCONTINUITY" in playlist(media), timeout=20)


def test_corrupt_fragment_has_garbage_samples(emu: EmulatorServer) -> None:
    media = media_url(session_url(emu))
    control(emu, fault="corrupt", count=1)
    fragments = wait_for(lambda: [f for f in emu.state()["streams"][STREAM]["fragments"]
                                  if f["corrupt"]], timeout=20)
    assert len(fragments) == 1
    uri = f"getMP4MediaFragment.mp4?SessionToken={parse_qs(urlsplit(media).query)['SessionToken'][0]}"
    bad = fetch(urljoin(media, f"{uri}&FragmentNumber={fragments[0]['number']}&TrackNumber=1"))[2]
    clean_number = str(int(fragments[0]["number"]) - 1)
    clean = fetch(urljoin(media, f"{uri}&FragmentNumber={clean_number}&TrackNumber=1"))[2]
    assert [b.type for b in mp4.boxes(bad)] == [b"moof", b"mdat"] and bad != clean
    wait_for(lambda: not emu.state()["streams"][STREAM]["fragments"][-1]["corrupt"], timeout=20)


def test_resolution_change_brings_a_new_init(emu: EmulatorServer) -> None:
    media = media_url(session_url(emu))
    control(emu, fault="resolution", width=256, height=144)
    text = wait_for(lambda: (lambda t: t if t.count("#EXT-X-MAP") == 2 else None)(playlist(media)),
                    timeout=30)
    lines = text.splitlines()
    second_map = [i for i, line in enumerate(lines) if line.startswith("#EXT-X-MAP")][1]
    assert lines[second_map - 1] == "#EXT-X-DISCONTINUITY"
    inits = [u for u in uris(text) if "InitFragment" in u]
    sizes = []
    for uri in inits:
        data = io.BytesIO(fetch(urljoin(media, uri))[2])
        with av.open(data, format="mp4") as container:
            context = container.streams.video[0].codec_context
            sizes.append((context.width, context.height))
    assert sizes == [(320, 180), (256, 144)]
    assert emu.state()["streams"][STREAM]["width"] == 256


def test_bad_fault_request_is_400(emu: EmulatorServer) -> None:
    request = urllib.request.Request(f"{emu.base_url}/_emulator/faults", method="POST",
                                     data=json.dumps({"fault": "meteor"}).encode())
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 400 and b"unknown fault" in caught.value.read()


def test_rate_limits_when_enabled() -> None:
    """With ``rate_limits``, a burst of media-playlist calls beyond 5 TPS is throttled."""
    from emu_world import SPEC

    from kvs_pool.emulator import EmulatorConfig

    with EmulatorServer(EmulatorConfig(streams=(SPEC,), rate_limits=True)) as server:
        media = media_url(session_url(server))
        statuses = [fetch(media)[0] for _ in range(30)]
        assert statuses[:4] == [200] * 4 and 400 in statuses
        status, headers, _ = fetch(media)
        if status == 400:
            assert headers["x-amzn-ErrorType"] == "ClientLimitExceededException"
        wait_for(lambda: fetch(media)[0] == 200, timeout=10)
