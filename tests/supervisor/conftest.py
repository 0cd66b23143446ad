"""Fixtures for pool tests: a live HLS camera on 127.0.0.1 and a real `kvs-pool run` process.

``live_media`` encodes a 320x240, 10 fps, self-indexed H.264 clip once per session;
``live_camera`` serves it as a live HLS stream per test module. ``pool_run`` (a real
`kvs-pool run`, cleaned up whatever happens) is the suite's, in ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from live_hls import LiveHLSServer, encode_segments

from kvs_pool.synth import VideoSpec

SPEC = VideoSpec(width=320, height=240, fps=10, gop=10, frames=1800)


@pytest.fixture(scope="session")
def live_media(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    directory = tmp_path_factory.mktemp("live")
    return directory, encode_segments(directory, SPEC)


@pytest.fixture(scope="module")
def live_camera(live_media: tuple[Path, list]) -> Iterator[str]:
    with LiveHLSServer(*live_media) as server:
        yield server.url
