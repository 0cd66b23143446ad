"""The fMP4 fragment decoder on real H.264 from libx264 (kvs_pool.synth), split into init +
fragments the way KVS serves them."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvs_pool.emulator import mp4
from kvs_pool.sources.hls_decode import FragmentDecoder
from kvs_pool.sources.kvs_errors import FragmentDecodeError
from kvs_pool.synth import VideoSpec, encode_file, frame_index

FMP4 = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}


def _clip(tmp_path: Path, name: str, spec: VideoSpec) -> mp4.SplitMP4:
    path = encode_file(tmp_path / name, spec, options=FMP4)
    return mp4.split_fragmented(path.read_bytes())


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> mp4.SplitMP4:
    return _clip(tmp_path_factory.mktemp("clip"), "a.mp4",
                 VideoSpec(width=320, height=180, fps=25, gop=10, frames=40))


def test_every_frame_in_order_with_offsets_from_the_fragment_start(clip: mp4.SplitMP4) -> None:
    decoder = FragmentDecoder()
    indices = []
    for fragment in clip.fragments:
        decoded = list(decoder.decode(clip.init, fragment))
        assert [round(d.offset_s, 3) for d in decoded] == [round(n / 25, 3) for n in range(10)]
        indices += [frame_index(d.frame.to_ndarray(format="bgr24")) for d in decoded]
    assert indices == list(range(40))
    assert (decoder.info.packets, decoder.info.keyframes) == (10, 1)
    assert (decoder.info.width, decoder.info.height) == (320, 180)


def test_keyframes_only_decodes_one_frame_per_gop(clip: mp4.SplitMP4) -> None:
    decoder = FragmentDecoder()
    decoder.keyframes_only = True
    got = [frame_index(d.frame.to_ndarray(format="bgr24"))
           for fragment in clip.fragments for d in decoder.decode(clip.init, fragment)]
    assert got == [0, 10, 20, 30]


def test_new_init_segment_new_resolution(clip: mp4.SplitMP4, tmp_path: Path) -> None:
    other = _clip(tmp_path, "b.mp4", VideoSpec(width=256, height=144, fps=25, gop=10, frames=20,
                                               first_index=500))
    decoder = FragmentDecoder()
    first = list(decoder.decode(clip.init, clip.fragments[0]))
    second = list(decoder.decode(other.init, other.fragments[0]))
    assert first[0].frame.width == 320 and second[0].frame.width == 256
    assert [frame_index(d.frame.to_ndarray(format="bgr24")) for d in second] == list(range(500, 510))


def test_garbage_fragment_raises_and_the_next_one_decodes(clip: mp4.SplitMP4) -> None:
    decoder = FragmentDecoder()
    list(decoder.decode(clip.init, clip.fragments[0]))
    with pytest.raises(FragmentDecodeError):
        list(decoder.decode(clip.init, b"\x00\x00\x00\x10junkjunkjunkjunk" * 50))
    after = [frame_index(d.frame.to_ndarray(format="bgr24"))
             for d in decoder.decode(clip.init, clip.fragments[1])]
    assert after == list(range(10, 20))


def test_scrambled_samples_do_not_poison_the_decoder(clip: mp4.SplitMP4) -> None:
    decoder = FragmentDecoder()
    try:
        list(decoder.decode(clip.init, mp4.scramble(clip.fragments[1])))
    except FragmentDecodeError:
        pass
    after = [frame_index(d.frame.to_ndarray(format="bgr24"))
             for d in decoder.decode(clip.init, clip.fragments[2])]
    assert after == list(range(20, 30))
