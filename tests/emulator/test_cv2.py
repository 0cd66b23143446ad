"""The real boto3 -> emulator -> cv2 (FFmpeg HLS demuxer) path: live frames in order, and a
session expiry ends the capture promptly."""

from __future__ import annotations

import time

import cv2
from emu_world import LOOP_FRAMES, session_url

from kvs_pool.emulator import EmulatorServer
from kvs_pool.synth import frame_index

TIMEOUTS = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 10000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 10000]


def read_indices(cap: cv2.VideoCapture, count: int, deadline_s: float = 60.0) -> list[int]:
    indices: list[int] = []
    deadline = time.monotonic() + deadline_s
    while len(indices) < count and time.monotonic() < deadline:
        ok, image = cap.read()
        assert ok, f"cv2 read failed after {len(indices)} frames"
        indices.append(frame_index(image))
    return indices


def test_cv2_reads_live_frames_in_order_across_the_loop(emu: EmulatorServer) -> None:
    cap = cv2.VideoCapture(session_url(emu), cv2.CAP_FFMPEG, TIMEOUTS)
    try:
        assert cap.isOpened()
        indices = read_indices(cap, 2 * LOOP_FRAMES)       # at least one loop boundary
    finally:
        cap.release()
    steps = [(b - a) % LOOP_FRAMES for a, b in zip(indices, indices[1:])]
    assert len(indices) == 2 * LOOP_FRAMES and steps == [1] * (len(indices) - 1), indices
    assert all(0 <= i < LOOP_FRAMES for i in indices)


def test_expired_session_ends_the_capture(emu: EmulatorServer) -> None:
    cap = cv2.VideoCapture(session_url(emu), cv2.CAP_FFMPEG, TIMEOUTS)
    try:
        read_indices(cap, 10)
        emu.expire_sessions()
        deadline = time.monotonic() + 60
        ended = False
        while time.monotonic() < deadline and not ended:
            ended = not cap.read()[0]
        assert ended, "cv2 kept reading after the session expired"
    finally:
        cap.release()
