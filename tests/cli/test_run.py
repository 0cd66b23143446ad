"""`kvs-pool run` with a bad config: every problem listed, exit 1, nothing started or left."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

BAD = """\
pool:
  name: "bad pool!"
  metrics: {port: 70000}
defaults:
  backoff: {initial_s: 90, max_s: 60}
cameras:
  - id: cam1
    source: {url: "ftp://example.com/x"}
  - id: cam1
    source: {url: "http://127.0.0.1/x.m3u8"}
"""


def test_bad_config_lists_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    result = subprocess.run([sys.executable, "-m", "kvs_pool", "run", str(path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    err = result.stderr
    assert "Traceback" not in err
    for key in ("pool.name", "pool.metrics.port", "defaults.backoff.initial_s",
                "cameras[0].source.url", "cameras[1].id"):
        assert f"bad.yaml:{key}: " in err, (key, err)


def test_missing_config_file(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "kvs_pool", "run", str(tmp_path / "no.yaml")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "no.yaml" in result.stderr
    assert "Traceback" not in result.stderr


def test_busy_metrics_port_fails_cleanly(tmp_path: Path, pool_name: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        path = tmp_path / "pool.yaml"
        path.write_text(f"pool: {{name: {pool_name}, state_dir: {tmp_path}, "
                        f"metrics: {{port: {port}}}}}\n"
                        "cameras: [{id: c1, source: {url: 'http://127.0.0.1:9/x.m3u8'}}]\n")
        result = subprocess.run([sys.executable, "-m", "kvs_pool", "run", str(path)],
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(Path("/dev/shm").glob(f"kvspool.{pool_name}.*"))


def run_pool(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kvs_pool", "run", str(config)],
                          capture_output=True, text=True, timeout=120)


def test_state_dir_that_cannot_be_created_is_one_line(tmp_path: Path, pool_name: str) -> None:
    path = tmp_path / "pool.yaml"
    path.write_text(f"pool: {{name: {pool_name}, state_dir: /proc/x, metrics: {{port: 0}}}}\n"
                    "cameras: [{id: c1, source: {url: 'http://127.0.0.1:9/x.m3u8'}}]\n")
    result = run_pool(path)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"{path}:pool.state_dir: cannot create or write /proc/x (in /proc): " in result.stderr
    assert not list(Path("/dev/shm").glob(f"kvspool.{pool_name}.*"))


def test_os_error_at_start_is_one_line_naming_the_path(tmp_path: Path, pool_name: str) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "stats").write_text("a file where the pool wants a directory")
    path = tmp_path / "pool.yaml"
    path.write_text(f"pool: {{name: {pool_name}, state_dir: {state}, metrics: {{port: 0}}}}\n"
                    "cameras: [{id: c1, source: {url: 'http://127.0.0.1:9/x.m3u8'}}]\n")
    result = run_pool(path)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.splitlines() == [f"kvs-pool run: {state / 'stats'}: File exists"]
    assert not list(Path("/dev/shm").glob(f"kvspool.{pool_name}.*"))


def test_state_dir_is_created_0700_under_a_shell_umask(tmp_path: Path, pool_name: str) -> None:
    state = tmp_path / "var" / pool_name
    with socket.socket() as busy:  # the start fails after the state directory was made
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        path = tmp_path / "pool.yaml"
        path.write_text(f"pool: {{name: {pool_name}, state_dir: {state}, "
                        f"metrics: {{port: {busy.getsockname()[1]}}}}}\n"
                        "cameras: [{id: c1, source: {url: 'http://127.0.0.1:9/x.m3u8'}}]\n")
        result = subprocess.run([sys.executable, "-m", "kvs_pool", "run", str(path)],
                                capture_output=True, text=True, timeout=120,
                                preexec_fn=lambda: os.umask(0o022))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    modes = [stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "var", state, state / "stats")]
    assert modes == [0o700, 0o700, 0o700]
