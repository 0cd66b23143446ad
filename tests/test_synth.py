"""The synthetic video survives a real H.264 round trip with its frame indices readable."""

from pathlib import Path

import av
import cv2
import numpy as np

from kvs_pool.synth import BLOCK, VideoSpec, encode_file, frame_index, frames


def test_indices_survive_h264_round_trip(tmp_path: Path) -> None:
    spec = VideoSpec(width=320, height=240, fps=25, gop=10, frames=30, first_index=1000)
    path = encode_file(tmp_path / "clip.mp4", spec)
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    seen = []
    ok, image = cap.read()
    while ok:
        assert image.shape == (240, 320, 3)
        seen.append(frame_index(image))
        ok, image = cap.read()
    cap.release()
    assert seen == list(range(1000, 1030))


def test_gop_sets_key_frame_interval(tmp_path: Path) -> None:
    spec = VideoSpec(width=160, height=120, fps=25, gop=10, frames=40)
    path = encode_file(tmp_path / "clip.mp4", spec)
    with av.open(str(path)) as container:
        keys = [n for n, packet in enumerate(container.demux(video=0)) if packet.is_keyframe]
    assert keys == [0, 10, 20, 30]


def test_still_after_stops_the_box_and_nothing_else_changes() -> None:
    spec = VideoSpec(width=320, height=96, frames=20, still_after=10)
    images = list(frames(spec))
    stamp = slice(BLOCK, None)                 # below the index stamp row
    assert not np.array_equal(images[8][stamp], images[9][stamp])     # moving
    assert all(np.array_equal(images[10][stamp], images[n][stamp]) for n in range(11, 20))
    assert [frame_index(image) for image in images] == list(range(20))


def test_low_frame_rates_encode(tmp_path: Path) -> None:
    """5 fps gave a 5,000 Hz MP4 track timescale, which FFmpeg's muxer refused."""
    for fps in (1, 5):
        path = encode_file(tmp_path / f"clip{fps}.mp4",
                           VideoSpec(width=320, height=96, fps=fps, gop=5, frames=10))
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            decoded = [frame_index(f.to_ndarray(format="bgr24")) for f in container.decode(stream)]
            assert decoded == list(range(10)) and float(stream.average_rate) == fps
