"""The HLS fetcher against real sockets: a hung server times out, a refused port fails fast,
error answers carry status and AWS code, and no message leaks the session token."""

from __future__ import annotations

import time

import pytest

from kvs_pool.emulator import EmulatorServer
from kvs_pool.sources.hls_fetch import Fetcher, FetchOptions
from kvs_pool.sources.kvs_errors import Action, HLSResponseError, action_for


def test_hung_server_times_out_within_the_read_timeout(hung_url: str) -> None:
    fetcher = Fetcher(FetchOptions(connect_timeout_s=1.0, read_timeout_s=1.0))
    started = time.monotonic()
    with pytest.raises(HLSResponseError) as caught:
        fetcher.get(hung_url + "?SessionToken=SECRET", "media playlist")
    assert time.monotonic() - started < 10
    assert caught.value.status is None and "Timeout" in str(caught.value.code)
    assert "SECRET" not in str(caught.value) and action_for(caught.value) is Action.BACKOFF


def test_refused_port_fails_fast(refused_url: str) -> None:
    with pytest.raises(HLSResponseError) as caught:
        Fetcher().get(refused_url, "master playlist")
    assert caught.value.status is None and "master playlist" in str(caught.value)


def test_error_answers_carry_status_and_code(emu: EmulatorServer) -> None:
    url = emu.base_url + "/hls/v1/getHLSMediaPlaylist.m3u8?SessionToken=SECRET"
    with pytest.raises(HLSResponseError) as caught:
        Fetcher().get(url, "media playlist")     # unknown token: 403
    assert caught.value.status == 403 and caught.value.code == "NotAuthorizedException"
    assert "SECRET" not in str(caught.value) and action_for(caught.value) is Action.REFRESH
    emu.error_burst(503, count=1, plane="data")
    with pytest.raises(HLSResponseError) as caught:
        Fetcher().get(url, "media playlist")
    assert caught.value.status == 503 and caught.value.code == "ServiceUnavailable"
