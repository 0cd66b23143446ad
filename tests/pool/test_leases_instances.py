"""Leases mode with real instances: three `kvs-pool run` over nine emulator cameras and a
lease table in moto's DynamoDB (served by the emulator). kill -9 of one instance: its cameras
come back on the others within 2 x lease_s + 5 s; restarted, it gets its fair share back.
A missing table fails at start with a message naming it and the IAM actions."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
from instances import ENV, Instances, emulator, readers, write_config
from polling import wait_for

from kvs_pool.pool.leases import IAM_ACTIONS, create_table

CAMERAS, LEASE_S = 9, 5.0


def _leases_config(tmp: Path, pool: str, endpoint: str, table: str) -> Path:
    assignment = {"mode": "leases", "table": table, "lease_s": LEASE_S}
    return write_config(tmp / "pool.yaml", pool, endpoint, CAMERAS,
                        extra_pool={"assignment": assignment})


def _balanced(pool: str, instances: set[str]) -> bool:
    """Every camera read by exactly one instance, loads within one of each other."""
    seen = readers(pool)
    if len(seen) != CAMERAS or any(len(who) != 1 for who in seen.values()):
        return False
    loads = {name: sum(1 for who in seen.values() if name in who) for name in instances}
    share = CAMERAS // len(instances)
    return set(loads.values()) <= {share, -(-CAMERAS // len(instances))}


def test_failover_and_rebalance(tmp_path: Path, sharded_pool: str,
                                monkeypatch: object) -> None:
    names = {f"{sharded_pool}-i{i}" for i in range(3)}
    with emulator(CAMERAS, moto=True) as emu:
        for key, value in ENV.items():
            monkeypatch.setenv(key, value)  # type: ignore[attr-defined]
        table = f"leases-{sharded_pool}"  # moto's state outlives the emulator: a fresh table
        create_table(table, "us-east-1", emu.base_url)
        config = _leases_config(tmp_path, sharded_pool, emu.base_url, table)
        with Instances(config, tmp_path) as pool:
            for i in range(3):
                pool.start(f"i{i}", "--instance", f"i{i}")
            wait_for(lambda: _balanced(sharded_pool, names), 120, "3 cameras on each instance")
            victim = f"{sharded_pool}-i0"
            moved = {c for c, who in readers(sharded_pool).items() if victim in who}
            killed = time.monotonic()
            pool.kill9("i0")

            def taken_over() -> bool:
                seen = readers(sharded_pool)
                return all(seen.get(c, set()) - {victim} for c in moved)
            wait_for(taken_over, 120, "the killed instance's cameras on the others")
            failover = time.monotonic() - killed
            assert failover <= 2 * LEASE_S + 5, (failover, pool.log("i1"))
            wait_for(lambda: _balanced(sharded_pool, names - {victim}), 60,
                     "the nine cameras on two instances, none read twice")
            pool.start("i0", "--instance", "i0")
            wait_for(lambda: _balanced(sharded_pool, names), 120, "load even again after restart")
            for i in range(3):
                assert pool.stop(f"i{i}") == 0, pool.log(f"i{i}")
        items = boto3.client("dynamodb", endpoint_url=emu.base_url,
                             region_name="us-east-1").scan(TableName=table)["Items"]
    leases = [item for item in items if item["kind"]["S"] == "lease"]
    assert len(leases) == CAMERAS and all(item["owner"]["S"] == "" for item in leases)
    assert not [item for item in items if item["kind"]["S"] == "instance"]


def test_missing_table_fails_at_start(tmp_path: Path, sharded_pool: str) -> None:
    with emulator(1, moto=True) as emu:
        config = _leases_config(tmp_path, sharded_pool, emu.base_url, table="no-such-table")
        result = subprocess.run([sys.executable, "-m", "kvs_pool", "run", str(config)],
                                capture_output=True, text=True, timeout=60,
                                env={**os.environ, **ENV})
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "lease table no-such-table" in result.stderr and "does not exist" in result.stderr
    assert all(action in result.stderr for action in IAM_ACTIONS)
