"""Static mode with real instances: three `kvs-pool run --shard I/3` over one config of nine
emulator cameras; each camera is read by exactly one instance, as `kvs-pool plan` said."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from instances import ENV, Instances, emulator, rings, state, write_config
from polling import wait_for

from kvs_pool.pool.observe import ring_status

CAMERAS = 9


def _flowing(instance_pool: str, camera: str) -> bool:
    status = ring_status(instance_pool, camera)
    return status is not None and status.write_seq > 0


def _plan(config: Path, shards: int = 3) -> dict[str, int]:
    out = subprocess.run([sys.executable, "-m", "kvs_pool", "plan", str(config), "--shards",
                          str(shards), "--json"], capture_output=True, text=True, timeout=60,
                         check=True)
    return {camera: shard["shard"] for shard in json.loads(out.stdout)["shards"]
            for camera in shard["cameras"]}


def test_each_camera_is_read_by_exactly_one_shard(tmp_path: Path, sharded_pool: str) -> None:
    with emulator(CAMERAS) as emu:
        config = write_config(tmp_path / "pool.yaml", sharded_pool, emu.base_url, CAMERAS)
        plan = _plan(config)
        with Instances(config, tmp_path) as pool:
            pool.start("s0", "--shard", "0/3")
            pool.start("s1", "--shard", "auto/3", env={"HOSTNAME": "kvs-pool-1"})  # StatefulSet
            pool.start("s2", env={"KVS_POOL_SHARD": "2/3"})
            wait_for(lambda: sum(map(len, rings(sharded_pool).values())) >= CAMERAS, 120,
                     "rings of all nine cameras")
            found = rings(sharded_pool)
            owners = {camera: inst for inst, cams in found.items() for camera in cams}
            assert sum(map(len, found.values())) == CAMERAS == len(owners), found
            assert owners == {c: f"{sharded_pool}-s{i}" for c, i in plan.items()}
            for camera, inst in owners.items():
                wait_for(lambda: _flowing(inst, camera), 120,  # noqa: B023 - called at once
                         f"frames of {camera} in {inst}")
            doc = wait_for(lambda: state(tmp_path / "state" / "s1"), 30, "shard 1 state file")
            with urllib.request.urlopen(doc["metrics_url"] + "/metrics", timeout=10) as page:
                text = page.read().decode()
            assert 'shard="1"' in text and "kvs_hls_frames_total{" in text
            status = subprocess.run([sys.executable, "-m", "kvs_pool", "status", str(config),
                                     "--shard", "1/3", "--json"], capture_output=True,
                                    text=True, timeout=60)
            assert status.returncode == 0, status.stderr
            shown = json.loads(status.stdout)
            assert shown["pool"] == f"{sharded_pool}-s1" and shown["workers"]
            assert {row["camera_id"] for row in shown["cameras"]} == \
                {c for c, i in plan.items() if i == 1}
            for index in range(3):
                assert pool.stop(f"s{index}") == 0, pool.log(f"s{index}")
    assert not rings(sharded_pool)


def test_bad_shards_fail_with_one_clear_line(tmp_path: Path, sharded_pool: str) -> None:
    config = write_config(tmp_path / "pool.yaml", sharded_pool, "http://127.0.0.1:9", 2)
    cases = [(["--shard", "0/0"], {}, "--shard: the shard count N must be at least 1"),
             (["--shard=-1/3"], {}, "--shard: shard index -1 is outside 0..2"),
             (["--shard", "3/3"], {}, "--shard: shard index 3 is outside 0..2"),
             (["--shard", "auto/3"], {"HOSTNAME": "worker"}, "auto needs a host name ending in"),
             ([], {"KVS_POOL_SHARD": "x/3"}, "KVS_POOL_SHARD: 'x/3': the shard index must be")]
    for args, env, message in cases:
        result = subprocess.run([sys.executable, "-m", "kvs_pool", "run", str(config), *args],
                                capture_output=True, text=True, timeout=60,
                                env={**os.environ, **ENV, **env})
        assert result.returncode == 1, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr, result.stderr
    result = subprocess.run([sys.executable, "-m", "kvs_pool", "plan", str(config), "--shards",
                             "0"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "--shards: the shard count must be at least 1" in \
        result.stderr
    assert not rings(sharded_pool)


def test_reload_recomputes_the_shard(tmp_path: Path, sharded_pool: str) -> None:
    """SIGHUP with more cameras: the shard runs exactly its part of the new list."""
    with emulator(8) as emu:
        config = write_config(tmp_path / "pool.yaml", sharded_pool, emu.base_url, 4)
        with Instances(config, tmp_path) as pool:
            pool.start("s0", "--shard", "0/2")
            mine = f"{sharded_pool}-s0"
            wait_for(lambda: rings(sharded_pool).get(mine) == _shard0(config), 120,
                     "shard 0 of four cameras")
            write_config(config, sharded_pool, emu.base_url, 8)
            pool.procs["s0"].send_signal(signal.SIGHUP)
            wait_for(lambda: rings(sharded_pool).get(mine) == _shard0(config), 120,
                     "shard 0 of eight cameras after SIGHUP")
            assert pool.stop("s0") == 0, pool.log("s0")


def _shard0(config: Path) -> set[str]:
    return {camera for camera, shard in _plan(config, 2).items() if shard == 0}
