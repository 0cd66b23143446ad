"""--metrics-port / KVS_POOL_METRICS_PORT: the instance listens there, and a SIGHUP reload of
an unchanged file restarts nothing (the override is applied to the reloaded config too)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from instances import ENV, Instances, emulator, state, write_config
from polling import wait_for


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_metrics_port_survives_reload_without_restarts(tmp_path: Path, sharded_pool: str) -> None:
    port = _free_port()
    with emulator(2) as emu:
        pipeline = {"name": "motion", "cameras": ["c0", "c1"], "detector": {"type": "motion"}}
        config = write_config(tmp_path / "pool.yaml", sharded_pool, emu.base_url, 2,
                              pipelines=[pipeline])
        with Instances(config, tmp_path) as pool:
            pool.start("s0", "--shard", "0/1", env={"KVS_POOL_METRICS_PORT": str(port)})
            doc = wait_for(lambda: (s := state(tmp_path / "state" / "s0")) and
                           all(w["up"] for w in s["workers"]) and len(s["workers"]) == 3 and s,
                           120, "two decoders and the inference worker up")
            assert doc["metrics_url"].endswith(f":{port}")
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as page:
                assert 'shard="0"' in page.read().decode()
            pool.procs["s0"].send_signal(signal.SIGHUP)
            wait_for(lambda: "reloading" in pool.log("s0"), 60, "the reload")
            assert pool.stop("s0") == 0
    assert "config changed" not in pool.log("s0"), pool.log("s0")


def test_bad_port_variable_is_one_clear_line(tmp_path: Path, sharded_pool: str) -> None:
    config = write_config(tmp_path / "pool.yaml", sharded_pool, "http://127.0.0.1:9", 1)
    result = subprocess.run([sys.executable, "-m", "kvs_pool", "run", str(config)],
                            capture_output=True, text=True, timeout=60,
                            env={**ENV, "PATH": "/usr/bin:/bin", "KVS_POOL_METRICS_PORT": "x"})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "KVS_POOL_METRICS_PORT: 'x' is not a port number" in result.stderr
