"""`kvs-pool run` with a bad config: every problem listed, exit 1, nothing started or left."""

from __future__ import annotations

import socket
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
