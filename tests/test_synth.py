"""The synthetic video survives a real H.264 round trip with its frame indices readable."""

from pathlib import Path

import av
import cv2

from kvs_pool.synth import VideoSpec, encode_file, frame_index


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
