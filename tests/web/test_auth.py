"""Access control: the secret comes from the environment or a file, never the config; with one
set, every route but /healthz wants it; basic and bearer both compare in constant time; a
bad setting stops `kvs-pool run` at start with one line naming the variable."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from pool_harness import PoolRun, dead_url
from ringpool import RingPool, Served

from kvs_pool.errors import KvsPoolError
from kvs_pool.web import Access, access_from_env


def _basic(user_password: str) -> str:
    return "Basic " + base64.b64encode(user_password.encode()).decode()


def test_no_secret_leaves_the_port_open() -> None:
    access = access_from_env({})
    assert not access.enabled and access.allows(None)


def test_secrets_from_variables_and_files(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("t0ken\n")
    (tmp_path / "basic").write_text("viewer:pa ss\n")
    access = access_from_env({"KVS_POOL_HTTP_TOKEN_FILE": str(tmp_path / "token"),
                              "KVS_POOL_HTTP_BASIC_FILE": str(tmp_path / "basic")})
    assert access == Access(token=b"t0ken", basic=b"viewer:pa ss")
    assert access_from_env({"KVS_POOL_HTTP_TOKEN": "abc"}).token == b"abc"


@pytest.mark.parametrize("env, words", [
    ({"KVS_POOL_HTTP_TOKEN": "a", "KVS_POOL_HTTP_TOKEN_FILE": "/x"},
     "set KVS_POOL_HTTP_TOKEN or KVS_POOL_HTTP_TOKEN_FILE, not both"),
    ({"KVS_POOL_HTTP_TOKEN_FILE": "/nonexistent/token"},
     "KVS_POOL_HTTP_TOKEN_FILE=/nonexistent/token: cannot read"),
    ({"KVS_POOL_HTTP_BASIC": "nocolon"}, "KVS_POOL_HTTP_BASIC: expected user:password"),
])
def test_bad_secrets_are_named(env: dict, words: str) -> None:
    with pytest.raises(KvsPoolError, match=words):
        access_from_env(env)


def test_empty_secret_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").write_text("")
    with pytest.raises(KvsPoolError, match="empty"):
        access_from_env({"KVS_POOL_HTTP_BASIC_FILE": str(tmp_path / "empty")})


@pytest.mark.parametrize("header, allowed", [
    (None, False),
    ("Bearer s3cret", True),
    ("bearer s3cret", True),
    ("Bearer s3cre", False),
    ("Bearer s3cret2", False),
    (_basic("viewer:pw"), True),
    (_basic("viewer:pX"), False),
    ("Basic !!notbase64", False),
    ("Digest s3cret", False),
])
def test_allows(header: str | None, allowed: bool) -> None:
    assert Access(token=b"s3cret", basic=b"viewer:pw").allows(header) is allowed


@pytest.fixture
def guarded(ring_pool: RingPool) -> Iterator[Served]:
    server = Served(ring_pool, access=Access(token=b"s3cret", basic=b"viewer:pw"))
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("path", ["/", "/api/status", "/api/cameras/front/latest.jpg",
                                  "/metrics", "/static/app.js"])
def test_every_route_but_healthz_wants_the_secret(guarded: Served, path: str) -> None:
    code, headers, _ = guarded.get(path)
    assert code == 401 and headers["WWW-Authenticate"].startswith("Basic")
    assert guarded.get(path, {"Authorization": "Bearer wrong"})[0] == 401
    assert guarded.get(path, {"Authorization": "Bearer s3cret"})[0] in (200, 503)
    assert guarded.get(path, {"Authorization": _basic("viewer:pw")})[0] in (200, 503)


def test_healthz_stays_open_for_probes(guarded: Served) -> None:
    assert guarded.get("/healthz")[0] == 503  # answered (unhealthy: no frames), not 401


def test_a_pool_with_a_bad_secret_setting_stops_at_start_naming_it(
        pool_run: PoolRun, monkeypatch: pytest.MonkeyPatch) -> None:
    pool_run.write_config({"cam": dead_url()})
    monkeypatch.setenv("KVS_POOL_HTTP_BASIC", "no-colon")
    pool_run.start()
    assert pool_run.proc.wait(60) == 1
    lines = pool_run.log_path.read_text().splitlines()
    assert "kvs-pool run: KVS_POOL_HTTP_BASIC: expected user:password" in lines
    assert not any("Traceback" in line for line in lines)
    assert pool_run.segments() == []
