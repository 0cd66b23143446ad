"""URLFrameSource against a real RTSP server (GStreamer's gst-rtsp-server, 720p25 H.264 from
x264enc): TCP and UDP transport, reconnect after a server restart, wrong credentials (a clear
error, the password in no log line, error or camera id), a stalled (SIGSTOPped) server, and
key-frame sampling."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import psutil
import pytest
import yaml

from kvs_pool.backoff import BackoffPolicy
from kvs_pool.config import CameraConfig, parse_config
from kvs_pool.errors import ConfigError, FrameSourceError
from kvs_pool.sources import SourceState
from kvs_pool.sources.url import URLFrameSource, URLSourceOptions
from kvs_pool.workers.params import camera_url, url_source_options
from tests.polling import wait_for
from tests.sources.rtsp_world import RtspServer

FAST_BACKOFF = BackoffPolicy(initial_s=0.5, factor=2.0, max_s=2.0, reset_after_s=60.0)


@pytest.fixture
def servers() -> Iterator[list[RtspServer]]:
    """Servers a test starts; all stopped (and reaped) after it, even when it fails."""
    started: list[RtspServer] = []
    yield started
    for server in started:
        server.stop()


@pytest.fixture
def rtsp(servers: list[RtspServer]) -> RtspServer:
    servers.append(RtspServer().start())
    return servers[-1]


class Reader:
    """Reads a source in a thread, recording (monotonic time, shape) per frame."""

    def __init__(self, source: URLFrameSource) -> None:
        self.source = source
        self.frames: list[tuple[float, tuple[int, ...]]] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for array, _ts in self.source.read_frames():
                self.frames.append((time.monotonic(), array.shape))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def count(self) -> int:
        return len(self.frames)

    def stop(self) -> None:
        self.source.control.stop.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()


@pytest.fixture
def readers() -> Iterator[list[Reader]]:
    started: list[Reader] = []
    yield started
    for reader in started:
        reader.stop()


def _udp_sockets() -> int:
    return sum(1 for c in psutil.Process().net_connections(kind="udp")
               if c.laddr and c.laddr.ip in ("127.0.0.1", "0.0.0.0"))


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_frames_flow_over_each_transport(rtsp: RtspServer, transport: str) -> None:
    source = URLFrameSource(rtsp.url, URLSourceOptions(transport=transport))
    udp_before = _udp_sockets()
    frames = []
    for array, ts in source.read_frames():
        frames.append((array.shape, ts))
        if len(frames) == 1:
            udp_open = _udp_sockets() - udp_before
        if len(frames) >= 25:
            break
    source.close()
    assert {shape for shape, _ in frames} == {(720, 1280, 3)}
    assert source.fps == pytest.approx(25, abs=1)
    # RTP over UDP opens RTP/RTCP sockets; interleaved TCP opens none.
    assert (udp_open > 0) == (transport == "udp")


def test_server_restart_reconnects_with_backoff(rtsp: RtspServer, readers: list[Reader]) -> None:
    options = URLSourceOptions(backoff=FAST_BACKOFF, read_timeout_s=2.0, open_timeout_s=2.0,
                               max_consecutive_errors=0)
    reader = Reader(URLFrameSource(rtsp.url, options))
    readers.append(reader)
    wait_for(lambda: reader.count() >= 10, 30, "first frames")
    rtsp.restart(down_s=3.0)
    back = time.monotonic()
    before = reader.count()
    wait_for(lambda: reader.count() >= before + 25, 60, "frames after the restart")
    first_after = next(t for t, _ in reader.frames[before:] if t > back)
    print(f"\nRTSP server back -> first frame: {first_after - back:.2f} s "
          f"(reconnects {reader.source.stats.reconnects}, backoff 0.5 s x2 -> 2 s)")
    assert reader.source.stats.reconnects >= 1
    assert reader.source.stats.state == SourceState.CONNECTED
    assert reader.error is None


@pytest.mark.parametrize("target_fps", [None, 5.0], ids=["cv2", "pyav"])
def test_wrong_credentials_give_a_clear_error_without_the_password(
        servers: list[RtspServer], caplog: pytest.LogCaptureFixture,
        target_fps: float | None) -> None:
    server = RtspServer(user="alice", password="right-Pa55").start()
    servers.append(server)
    bad = server.url.replace("right-Pa55", "wr0ng-Pa55")
    options = URLSourceOptions(backoff=FAST_BACKOFF, max_consecutive_errors=2,
                               target_fps=target_fps)
    source = URLFrameSource(bad, options)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(FrameSourceError) as err:
        next(source.read_frames())
    message = str(err.value)
    assert "401 Unauthorized" in message
    assert f"rtsp://127.0.0.1:{server.port}/test" in message
    texts = [message, source.camera_id, source.stats.last_error or "",
             *(r.getMessage() for r in caplog.records)]
    assert not [t for t in texts if "wr0ng" in t or "alice" in t]
    assert source.camera_id == "test"
    # the right password works on the same server
    good = URLFrameSource(server.url)
    assert good.read_frame() is not None
    good.close()


def test_stalled_server_is_detected_and_the_source_reconnects_after_sigcont(
        rtsp: RtspServer, readers: list[Reader]) -> None:
    options = URLSourceOptions(backoff=FAST_BACKOFF, frame_timeout_s=2.0, read_timeout_s=2.0,
                               open_timeout_s=2.0, max_consecutive_errors=0)
    reader = Reader(URLFrameSource(rtsp.url, options))
    readers.append(reader)
    stats = reader.source.stats
    wait_for(lambda: reader.count() >= 10, 30, "first frames")
    rtsp.pause()
    wait_for(lambda: stats.consecutive_errors >= 1, 30, "the stall to be detected")
    assert stats.state in (SourceState.RECONNECTING, SourceState.CONNECTING)
    assert not reader.source.is_healthy()
    rtsp.resume()
    before = reader.count()
    wait_for(lambda: reader.count() >= before + 10, 60, "frames after SIGCONT")
    assert stats.reconnects >= 1 and reader.source.is_healthy()


def test_key_frame_sampling_keeps_the_target_rate(rtsp: RtspServer) -> None:
    source = URLFrameSource(rtsp.url, URLSourceOptions(target_fps=5))
    times = []
    for _array, _ts in source.read_frames():
        times.append(time.monotonic())
        if len(times) >= 16:
            break
    source.close()
    rate = (len(times) - 1) / (times[-1] - times[1 - 1])
    assert 3.5 <= rate <= 6.5, f"{rate:.2f} fps kept for a 5 fps target"
    assert source.stats.skipped >= 3 * len(times)   # ~4 of 5 frames passed over


def _source(camera: CameraConfig) -> URLFrameSource:
    """The camera's source as the decoder builds it (``workers.params``)."""
    url = camera_url(camera)
    return URLFrameSource(url, url_source_options(camera, url), camera_id=camera.id)


def _camera(url: str, **source: str) -> CameraConfig:
    text = yaml.safe_dump({"pool": {"name": "t"},
                           "cameras": [{"id": "gate", "source": {"url": url, **source}}]})
    return parse_config(text, "c.yaml", check_files=False).cameras[0]


def test_config_password_from_the_environment_opens_the_camera(
        servers: list[RtspServer], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    server = RtspServer(user="bob", password="p@ss:w/rd").start()   # needs percent-encoding
    servers.append(server)
    monkeypatch.setenv("GATE_RTSP_PASSWORD", "p@ss:w/rd")
    camera = _camera(f"rtsp://127.0.0.1:{server.port}/test", username="bob",
                     password_env="GATE_RTSP_PASSWORD", transport="udp")
    caplog.set_level(logging.INFO)
    source = _source(camera)
    assert source.options.transport == "udp"
    frame = source.read_frame()
    source.close()
    assert frame is not None and frame[0].shape == (720, 1280, 3)
    assert any("connected to" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if "p@ss" in r.getMessage() or "bob" in r.getMessage()]


def test_config_password_file_and_a_missing_variable(tmp_path: object,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE_PASSWORD", raising=False)
    camera = _camera("rtsp://127.0.0.1:1/test", username="u", password_env="NOPE_PASSWORD")
    with pytest.raises(ConfigError) as err:
        _source(camera)
    assert err.value.problems == [
        "cameras[gate].source.password: environment variable NOPE_PASSWORD is not set"]
    secret = tmp_path / "pw"   # type: ignore[operator]
    secret.write_text("from-file\n")
    camera = _camera("rtsp://127.0.0.1:1/test", username="u", password_file=str(secret))
    assert _source(camera).url == "rtsp://u:from-file@127.0.0.1:1/test"
