"""fmp4: the samples read from a fragment's box headers are exactly the packets FFmpeg's mov
demuxer gives for the same fragment (real libx264 output, with and without B-frames)."""

from __future__ import annotations

import io
import struct

import av
import pytest

from kvs_pool.emulator import mp4
from kvs_pool.sources import fmp4
from kvs_pool.sources.hls_decode import FragmentDecoder
from kvs_pool.synth import VideoSpec, encode_file, frame_index

FMP4 = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}


@pytest.fixture(scope="module", params=[0, 2], ids=["no-bframes", "bframes"])
def clip(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> mp4.SplitMP4:
    spec = VideoSpec(width=320, height=180, fps=25, gop=10, frames=30, bframes=request.param)
    path = encode_file(tmp_path_factory.mktemp("fmp4") / "a.mp4", spec, options=FMP4)
    return mp4.split_fragmented(path.read_bytes())


def _pyav_packets(init: bytes, fragment: bytes) -> list[tuple[int, int, bool, bytes]]:
    with av.open(io.BytesIO(init + fragment), format="mp4") as container:
        stream = container.streams.video[0]
        return [(p.pts, p.dts, p.is_keyframe, bytes(p))
                for p in container.demux(stream) if p.size]


def _relative(rows: list[tuple[int, int, bool, bytes]]) -> list[tuple[int, int, bool, bytes]]:
    """Times relative to the first dts (FFmpeg shifts both by the edit list: a constant)."""
    first = rows[0][1]
    return [(pts - first, dts - first, key, data) for pts, dts, key, data in rows]


def test_samples_match_ffmpegs_demuxer(clip: mp4.SplitMP4) -> None:
    track = fmp4.track_defaults(clip.init, 1)
    for fragment in clip.fragments:
        ours = [(s.pts, s.dts, s.keyframe, fragment[s.offset:s.offset + s.size])
                for s in fmp4.samples(fragment, track)]
        assert _relative(ours) == _relative(_pyav_packets(clip.init, fragment))
        assert ours[0][2] and sum(key for _, _, key, _ in ours) == 1


def test_other_tracks_are_ignored(clip: mp4.SplitMP4) -> None:
    assert fmp4.samples(clip.fragments[0], fmp4.TrackDefaults(track_id=2)) == []


def test_a_truncated_fragment_is_refused(clip: mp4.SplitMP4) -> None:
    fragment = clip.fragments[0]
    moof = mp4.find(fragment, "moof")
    assert moof is not None
    with pytest.raises(fmp4.FMP4Error, match="mdat"):
        fmp4.samples(fragment[:moof.end + 8 + 100], fmp4.track_defaults(clip.init, 1))


def test_samples_outside_the_fragment_are_refused(clip: mp4.SplitMP4) -> None:
    fragment = bytearray(clip.fragments[0])
    trun = mp4.find(fragment, "moof/traf/trun")
    assert trun is not None and fragment[trun.body + 3] & 0x01     # has a data offset
    struct.pack_into(">i", fragment, trun.body + 8, len(fragment))
    with pytest.raises(fmp4.FMP4Unsupported, match="outside"):
        fmp4.samples(bytes(fragment), fmp4.track_defaults(clip.init, 1))


def test_a_fragment_it_cannot_follow_is_demuxed_by_pyav(clip: mp4.SplitMP4) -> None:
    fragment = bytearray(clip.fragments[1])
    tfdt = mp4.find(fragment, "moof/traf/tfdt")
    assert tfdt is not None
    fragment[tfdt.start + 4:tfdt.start + 8] = b"free"     # same size, no decode time any more
    with pytest.raises(fmp4.FMP4Unsupported, match="tfdt"):
        fmp4.samples(bytes(fragment), fmp4.track_defaults(clip.init, 1))
    decoder = FragmentDecoder()
    indices = [frame_index(d.frame.to_ndarray(format="bgr24"))
               for d in decoder.decode(clip.init, bytes(fragment))]
    assert indices == list(range(10, 20)) and decoder.demuxer_opens == 1
    assert [frame_index(d.frame.to_ndarray(format="bgr24"))
            for d in decoder.decode(clip.init, clip.fragments[2])] == list(range(20, 30))
    assert decoder.demuxer_opens == 1
