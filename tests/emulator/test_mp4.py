"""Fragmented-MP4 surgery on real libx264 output: split, restamp across a loop, scramble."""

from __future__ import annotations

import io
from pathlib import Path

import av
import pytest

from kvs_pool.emulator import mp4
from kvs_pool.emulator.media import FRAGMENTED_MP4, file_clip, synthetic_clip
from kvs_pool.synth import VideoSpec, encode_file, frame_index

SPEC = VideoSpec(width=320, height=96, fps=10, gop=5, frames=20)


@pytest.fixture(scope="module")
def clip_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("mp4") / "clip.mp4"
    return encode_file(path, SPEC, fmt="mp4", options=FRAGMENTED_MP4).read_bytes()


def test_split_gives_init_and_one_fragment_per_gop(clip_bytes: bytes) -> None:
    parts = mp4.split_fragmented(clip_bytes)
    assert [b.type for b in mp4.boxes(parts.init)] == [b"ftyp", b"moov"]
    assert len(parts.fragments) == SPEC.frames // SPEC.gop
    for fragment in parts.fragments:
        assert [b.type for b in mp4.boxes(fragment)] == [b"moof", b"mdat"]
    scale = mp4.timescale(parts.init)
    assert [mp4.duration(f) for f in parts.fragments] == [scale * SPEC.gop // SPEC.fps] * 4


def test_restamp_rewrites_sequence_and_decode_time_only(clip_bytes: bytes) -> None:
    fragment = mp4.split_fragmented(clip_bytes).fragments[1]
    out = mp4.restamp(fragment, 77, 123_456_789_012)
    assert len(out) == len(fragment) and mp4.base_decode_time(out) == 123_456_789_012
    mfhd = mp4.find(out, "moof/mfhd")
    assert mfhd is not None and int.from_bytes(out[mfhd.body + 4:mfhd.body + 8], "big") == 77
    assert out[-1000:] == fragment[-1000:]                 # samples untouched


def test_looped_fragments_decode_with_increasing_time(clip_bytes: bytes) -> None:
    """Two loops of the clip, restamped as the emulator does, decode cleanly and in order."""
    clip = synthetic_clip(SPEC)
    stream = io.BytesIO()
    stream.write(clip.init)
    ticks = 0
    for n in range(2 * len(clip.fragments)):
        stream.write(mp4.restamp(clip.fragments[n % len(clip.fragments)], n + 1, ticks))
        ticks += clip.durations[n % len(clip.durations)]
    stream.seek(0)
    with av.open(stream, "r", format="mp4") as container:
        decoded = [(f.time, frame_index(f.to_ndarray(format="bgr24")))
                   for f in container.decode(video=0)]
    times = [t for t, _ in decoded]
    assert len(decoded) == 2 * SPEC.frames
    assert times == sorted(times) and len(set(times)) == len(times)
    assert [i for _, i in decoded] == list(range(SPEC.frames)) * 2


def test_scramble_changes_samples_but_keeps_structure(clip_bytes: bytes) -> None:
    fragment = mp4.split_fragmented(clip_bytes).fragments[0]
    bad = mp4.scramble(fragment)
    assert len(bad) == len(fragment) and bad != fragment
    assert [b.type for b in mp4.boxes(bad)] == [b"moof", b"mdat"]
    moof = mp4.find(bad, "moof")
    assert moof is not None and bad[:moof.end] == fragment[:moof.end]


def test_non_fragmented_file_is_remuxed(tmp_path: Path) -> None:
    plain = encode_file(tmp_path / "plain.mp4", SPEC)
    with pytest.raises(mp4.MP4Error):
        mp4.split_fragmented(plain.read_bytes())
    clip = file_clip(plain)
    assert (clip.width, clip.height) == (SPEC.width, SPEC.height)
    assert len(clip.fragments) == SPEC.frames // SPEC.gop


def test_garbage_is_a_clear_error() -> None:
    with pytest.raises(mp4.MP4Error, match="bad size|not a fragmented"):
        mp4.split_fragmented(b"\x00\x00\x00\x10junk" + b"\x00" * 4)
