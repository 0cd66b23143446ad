"""The KVS source behind an egress proxy: with HTTP_PROXY set, playlists and fragments go
through a real proxy (Debian's tinyproxy, started here), as botocore's API calls do; NO_PROXY
exempts hosts the same way; a proxy that is down is a counted read error, not a hang."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from kvs_world import make_source, read_until
from polling import wait_for

from kvs_pool.emulator import EmulatorServer
from kvs_pool.sources.hls_fetch import Fetcher
from kvs_pool.sources.kvs_errors import HLSResponseError

pytestmark = pytest.mark.skipif(shutil.which("tinyproxy") is None,
                                reason="tinyproxy missing (Debian: apt-get install tinyproxy)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A tinyproxy on a free loopback port; yields its URL and its log file."""
    port, log = _free_port(), tmp_path / "tinyproxy.log"
    conf = tmp_path / "tinyproxy.conf"
    conf.write_text(f"Port {port}\nListen 127.0.0.1\nTimeout 30\nAllow 127.0.0.1\n"
                    f"LogFile \"{log}\"\nLogLevel Connect\nMaxClients 20\n")
    proc = subprocess.Popen(["tinyproxy", "-d", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _listening(port), 20, "tinyproxy listening")
        yield f"http://127.0.0.1:{port}", log
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def _proxied(log: Path, what: str) -> int:
    return sum(what in line for line in log.read_text(errors="replace").splitlines()) \
        if log.exists() else 0


def test_fragments_go_through_the_proxy(emu: EmulatorServer, proxy: tuple[str, Path],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    url, log = proxy
    monkeypatch.setenv("HTTP_PROXY", url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with make_source(emu) as source:
        read_until(source, lambda seen: len(seen) >= 10)
    assert _proxied(log, "getMP4MediaFragment") >= 1, log.read_text()
    assert _proxied(log, "getHLSMediaPlaylist") >= 1


def test_no_proxy_exempts_the_host(emu: EmulatorServer, proxy: tuple[str, Path],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    url, log = proxy
    monkeypatch.setenv("HTTP_PROXY", url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with make_source(emu) as source:
        read_until(source, lambda seen: len(seen) >= 5)
    assert _proxied(log, "getMP4MediaFragment") == 0


def test_a_dead_proxy_is_an_error_with_no_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{_free_port()}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    fetcher = Fetcher()
    with pytest.raises(HLSResponseError, match=r"media playlist at .*: ProxyError: ") as info:
        fetcher.get("http://127.0.0.1:9/hls/v1/getHLSMediaPlaylist.m3u8?SessionToken=secret",
                    "media playlist")
    assert "secret" not in str(info.value)
    fetcher.close()
