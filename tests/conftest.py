"""Session-wide guards: every test gets its own pool name, and no shared-memory segment of
this test run may outlive it.

Pool names are ``t<session-id>x<n>``, so a leak is attributable to this run and never collides
with a real pool or a parallel run. At the end any leftover ``/dev/shm/kvspool.t<session-id>*``
is unlinked and the run is marked failed, naming the segments.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from pool_harness import PoolRun

SHM_DIR = Path("/dev/shm")
SESSION_ID = secrets.token_hex(3)
_counter = itertools.count(1)


def _leftovers() -> list[Path]:
    return sorted(SHM_DIR.glob(f"kvspool.t{SESSION_ID}*"))


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy AWS credentials and region for boto3 (the emulator and moto accept any), and
    nothing of this machine's own AWS set-up: no profile, no config or credentials file, no
    instance-metadata lookup."""
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                       "AWS_CONFIG_FILE": "/nonexistent",
                       "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
                       "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def pool_run(pool_name: str, tmp_path: Path) -> Iterator[PoolRun]:
    """A real ``kvs-pool run`` of this test (``tests/pool_harness.py``), killed and its rings
    unlinked whatever happens."""
    run = PoolRun(pool_name, tmp_path)
    try:
        yield run
    finally:
        run.cleanup()


@pytest.fixture
def pool_name() -> Iterator[str]:
    """A pool name unique to this test; segments of it are removed after the test."""
    name = f"t{SESSION_ID}x{next(_counter)}"
    yield name
    for path in SHM_DIR.glob(f"kvspool.{name}.*"):
        path.unlink(missing_ok=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    leaked = _leftovers()
    for path in leaked:
        path.unlink(missing_ok=True)
    if leaked and os.environ.get("KVS_POOL_ALLOW_LEAKS") != "1":
        names = ", ".join(p.name for p in leaked)
        session.config.get_terminal_writer().line(f"LEAKED shared memory segments: {names}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
