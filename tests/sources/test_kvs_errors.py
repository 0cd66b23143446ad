"""Every error the KVS control and data planes answer, through real boto3 and HTTP, maps to the
right exception, action and source state; the backoff schedule (5 -> 60 s, x2, jitter) is
checked on a skipped clock, so it runs in a second."""

from __future__ import annotations

import random

import pytest
from kvs_world import SEED, FastControl, make_source, read_until

from kvs_pool.backoff import Backoff, BackoffPolicy
from kvs_pool.emulator import EmulatorServer
from kvs_pool.errors import HLSStreamError, KVSConnectionError, SourcePermanentError
from kvs_pool.sources.base import SourceState
from kvs_pool.sources.kvs_errors import Action, FragmentDecodeError, action_for
from kvs_pool.sources.kvs_session import KVSSession, SessionOptions

FATAL = [
    (403, "NotAuthorizedException"), (400, "InvalidArgumentException"),
    (400, "NoDataRetentionException"), (400, "UnsupportedStreamMediaTypeException"),
    (400, "MissingCodecPrivateDataException"), (400, "InvalidCodecPrivateDataException"),
]


@pytest.mark.parametrize("status,code", FATAL)
def test_fatal_session_errors_raise_at_once_in_state_error(
        emu: EmulatorServer, status: int, code: str) -> None:
    emu.error_burst(status, count=1, code=code, plane="control", api="GetHLSStreamingSessionURL")
    control = FastControl()
    source = make_source(emu, control)
    with source, pytest.raises(KVSConnectionError) as caught:
        source.read_frame()
    assert caught.value.code == code and not caught.value.retryable
    assert code in str(caught.value) and "cam-1" in str(caught.value)
    assert source.stats.state == SourceState.ERROR and source.stats.read_errors == 1
    assert control.backoff_waits() == []            # never retried hot


def test_unknown_stream_is_fatal_with_a_hint(emu: EmulatorServer) -> None:
    source = make_source(emu, stream_name="no-such-stream")
    with source, pytest.raises(KVSConnectionError) as caught:
        source.read_frame()
    assert caught.value.code == "ResourceNotFoundException" and not caught.value.retryable
    assert "GetDataEndpoint" in str(caught.value) and "stream name" in str(caught.value)
    assert source.stats.state == SourceState.ERROR
    # counted in kvs_hls_read_errors_total (it used to raise uncounted)
    assert source.stats.read_errors == 1 and "ResourceNotFoundException" in source.stats.last_error


def test_no_recent_fragments_waits_long_then_recovers(emu: EmulatorServer) -> None:
    emu.error_burst(404, count=2, plane="control", api="GetHLSStreamingSessionURL")
    control = FastControl()
    source = make_source(emu, control, idle_retry_s=45.0, max_consecutive_errors=1)
    with source:
        read_until(source, lambda seen: len(seen) >= 3)
    assert control.backoff_waits() == [45.0, 45.0]   # not hot; not counted as consecutive
    assert source.stats.read_errors == 2 and "ResourceNotFoundException" in str(source.stats.last_error)
    assert SourceState.RECONNECTING in control.states


@pytest.mark.parametrize("api", ["GetHLSMediaPlaylist", "GetHLSMasterPlaylist"])
def test_data_plane_404_is_idle_not_fatal(emu: EmulatorServer, api: str) -> None:
    emu.error_burst(404, count=1, plane="data", api=api)
    control = FastControl()
    source = make_source(emu, control, idle_retry_s=40.0)
    with source:
        read_until(source, lambda seen: len(seen) >= 3)
    assert control.backoff_waits() == [40.0] and source.stats.reconnects == 1


def test_fragment_gone_is_skipped_without_waiting(emu: EmulatorServer) -> None:
    control = FastControl()
    source = make_source(emu, control)

    def step(seen: list) -> bool:
        if len(seen) == 3:
            emu.error_burst(404, count=1, plane="data", api="GetMP4MediaFragment")
        return len(seen) >= 15

    with source:
        seen = read_until(source, step)
    assert control.backoff_waits() == [] and source.stats.reconnects == 0
    assert source.stats.read_errors == 1 and "ResourceNotFoundException" in str(source.stats.last_error)
    gaps = [b.index - a.index for a, b in zip(seen, seen[1:]) if (b.index - a.index) % 60 != 1]
    assert len(gaps) == 1                            # exactly one fragment missing


@pytest.mark.parametrize("status,code,plane,api", [
    (500, "InternalFailure", "control", "GetHLSStreamingSessionURL"),
    (503, "ServiceUnavailable", "control", "GetDataEndpoint"),
    (400, "ClientLimitExceededException", "control", "GetDataEndpoint"),
    (500, "InternalFailure", "data", "GetMP4InitFragment"),
    (503, "ServiceUnavailable", "data", "GetHLSMediaPlaylist"),
    (400, "ClientLimitExceededException", "data", "GetMP4MediaFragment"),
])
def test_transient_errors_back_off_and_recover(
        emu: EmulatorServer, status: int, code: str, plane: str, api: str) -> None:
    emu.error_burst(status, count=2, code=code, plane=plane, api=api)
    control = FastControl()
    source = make_source(emu, control)
    with source:
        read_until(source, lambda seen: len(seen) >= 3)
    assert len(control.backoff_waits()) == 2 and source.stats.reconnects == 2
    assert source.stats.read_errors == 2 and code in str(source.stats.last_error)
    assert SourceState.RECONNECTING in control.states and source.stats.consecutive_errors == 0


def test_data_plane_403_refreshes_once_then_backs_off(emu: EmulatorServer) -> None:
    emu.error_burst(403, count=3, plane="data", api="GetHLSMediaPlaylist")
    control = FastControl()
    source = make_source(emu, control)
    with source:
        read_until(source, lambda seen: len(seen) >= 3)
    # first 403: new session at once; the same again right after: backoff (not hot), and a
    # new session after it (a reconnect, so no further refresh counted)
    assert source.stats.url_refreshes == 1 and len(control.backoff_waits()) == 2
    assert source.stats.read_errors == 3 and source.stats.reconnects == 2


def test_session_that_keeps_403ing_is_replaced_after_backoff(emu: EmulatorServer) -> None:
    emu.error_burst(403, count=5, plane="data", api="GetHLSMasterPlaylist")
    control = FastControl()
    source = make_source(emu, control, max_consecutive_errors=4)
    with source, pytest.raises(KVSConnectionError) as caught:
        source.read_frame()
    assert "403" in str(caught.value) and source.stats.state == SourceState.ERROR
    # one session, one refresh, then a new session after each of the 3 backoffs
    assert len(emu.state()["sessions"]) == 5
    assert source.stats.url_refreshes == 1 and source.stats.reconnects == 3


def test_backoff_schedule_to_the_cap_then_state_error(emu: EmulatorServer) -> None:
    emu.error_burst(500, count=50, plane="control", api="GetHLSStreamingSessionURL")
    control = FastControl()
    source = make_source(emu, control, backoff=BackoffPolicy(), max_consecutive_errors=7)
    with source, pytest.raises(KVSConnectionError) as caught:
        source.read_frame()
    expected = Backoff(BackoffPolicy(), random.Random(SEED))
    delays = [expected.next_delay() for _ in range(6)]
    assert control.backoff_waits() == pytest.approx(delays)
    bases = [5, 10, 20, 40, 60, 60]
    assert all(0.8 * b <= d <= 1.2 * b for b, d in zip(bases, delays))
    assert set(control.states) == {SourceState.RECONNECTING}
    assert source.stats.state == SourceState.ERROR and source.stats.reconnects == 6
    assert "giving up after 7" in str(caught.value) and caught.value.code == "InternalFailure"
    # a transient outage, however long, is not permanent: the decoder backs off normally
    assert caught.value.retryable and not isinstance(caught.value, SourcePermanentError)


def test_refused_connection_is_a_retryable_connection_error(aws_env: None) -> None:
    session = KVSSession(SessionOptions(stream_name="x", region="us-east-1",
                                        endpoint_url="http://127.0.0.1:9", api_timeout_s=1.0))
    with pytest.raises(KVSConnectionError) as caught:
        session.current()
    assert caught.value.retryable and caught.value.code == "EndpointConnectionError"
    assert action_for(caught.value) is Action.BACKOFF


def test_actions_of_source_side_errors() -> None:
    assert action_for(FragmentDecodeError("bad")) is Action.SKIP
    assert action_for(HLSStreamError("stalled")) is Action.BACKOFF
    assert action_for(KVSConnectionError("x", "ResourceNotFoundException")) is Action.IDLE


def test_refresh_after_a_403_says_so(emu: EmulatorServer, caplog: pytest.LogCaptureFixture) -> None:
    """The refresh a 403 forces is logged as such, not as a scheduled one "before expiry"."""
    source = make_source(emu)
    expired = []

    def step(seen: list) -> bool:
        if len(seen) == 5:
            expired.append(emu.expire_sessions())
        return len(seen) >= 20 and source.stats.url_refreshes == 1

    with caplog.at_level("INFO", logger="kvs_pool.sources"), source:
        read_until(source, step)
    refreshed = [r.getMessage() for r in caplog.records if "refreshed" in r.getMessage()]
    assert expired == [1] and len(refreshed) == 1, refreshed
    assert "after HTTP 403" in refreshed[0] and "before expiry" not in refreshed[0], refreshed
