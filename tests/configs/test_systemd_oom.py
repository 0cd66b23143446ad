"""``OOMPolicy=continue`` (configs/kvs-pool.service) verified under a real systemd: one decoder
killed by the kernel's OOM killer leaves the unit active and the supervisor restarts it, where
the default ``OOMPolicy=stop`` stops the whole unit with ``Result=oom-kill``.

systemd learns of a kernel OOM kill only from cgroup v2's ``memory.events``, and only as PID 1,
so this runs in a VM (tests/vm.py): Debian bookworm, systemd 252, the unit file as shipped
but for the lines the guest must change (``render``). The host's Python, this checkout and its
virtualenv are shared into the guest at the same paths. The guest side,
``systemd_oom_guest.py``, runs both units in one boot and records; the tests here judge.

Marked ``vm`` (``pytest -m vm`` selects it); skipped only when qemu, debootstrap or root are
missing (.ci/run installs the packages and sets ``KVS_POOL_REQUIRE_VM=1``, which makes that a
failure). The image is built once into ``.cache/vm``.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import vm

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "configs" / "kvs-pool.service"
TEMPLATE = REPO / "deploy" / "systemd" / "kvs-pool@.service"
GUEST = Path(__file__).with_name("systemd_oom_guest.py")
INSTALLED = "/usr/local/bin/kvs-pool"
CONTINUE, STOP = "kvs-pool.service", "kvs-pool-oomstop.service"
BOOT_TIMEOUT_S = 1500     # TCG (no usable KVM) boots and runs everything ~10x slower
SITE = """\
pool:
  name: oomvm
  state_dir: /var/lib/kvs-pool/oomvm
defaults: {target_fps: 2, ring_slots: 4, max_resolution: [320, 240]}
emulator:
  enabled: true
  streams:
    - {name: victim, width: 320, height: 240, fps: 5, gop: 5, seconds: 4}
    - {name: bystander, width: 320, height: 240, fps: 5, gop: 5, seconds: 4}
cameras:
  - id: victim
    source: {kvs: {stream_name: victim, region: us-east-1,
                    endpoint_url: "http://127.0.0.1:4567"}}
  - id: bystander
    source: {kvs: {stream_name: bystander, region: us-east-1,
                    endpoint_url: "http://127.0.0.1:4567"}}
"""

# The first test's timeout covers the module's VM run (the fixture) too.
vm_test = pytest.mark.timeout(BOOT_TIMEOUT_S + 600)


def oom_policies(path: Path) -> list[str]:
    return re.findall(r"^OOMPolicy=(.*)$", path.read_text(), re.M)


def test_both_shipped_units_set_oom_policy_continue() -> None:
    assert oom_policies(UNIT) == ["continue"]
    assert oom_policies(TEMPLATE) == ["continue"]


def render(policy: str) -> str:
    """The shipped unit with only what the guest must change: the script's path (this
    virtualenv), ProtectHome= read-only instead of hidden (the shared Python may live in a
    home directory, as pyenv's does), a start timeout for an emulated CPU, and the policy."""
    text = UNIT.read_text()
    changes = {INSTALLED: str(Path(sys.executable).with_name("kvs-pool")),
               "\nProtectHome=yes\n": "\nProtectHome=read-only\n",
               "\nTimeoutStartSec=120\n": "\nTimeoutStartSec=600\n",
               "\nOOMPolicy=continue\n": f"\nOOMPolicy={policy}\n"}
    for old, new in changes.items():
        assert old in text, f"{UNIT.name} no longer has {old.strip()!r}: update render()"
        text = text.replace(old, new)
    return text


def shares() -> list[Path]:
    """Host directories the guest needs at the same paths: the Python installation, the
    virtualenv and this checkout; nested ones are covered by their parent."""
    paths = sorted({Path(sys.base_prefix).resolve(), Path(sys.prefix), REPO})
    return [p for p in paths if not any(o != p and o in p.parents for o in paths)]


def write_job(job: Path) -> None:
    (job / "units").mkdir()
    (job / "units" / CONTINUE).write_text(render("continue"))
    (job / "units" / STOP).write_text(render("stop"))
    (job / "site.yaml").write_text(SITE)
    (job / "plan.json").write_text(json.dumps({"units": [CONTINUE, STOP]}))
    (job / "run").write_text(f"#!/bin/sh\nexec {sys.executable} {GUEST} /job\n")


def tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(errors="replace") if path.is_file() else "(none)"
    return f"--- {path.name}:\n" + "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="module")
def guest(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Both units' records from one boot of the VM."""
    missing = vm.missing_tools()
    if missing:
        why = f"a real-systemd VM needs {', '.join(missing)} (.ci/run installs them)"
        if os.environ.get("KVS_POOL_REQUIRE_VM") == "1":   # CI: a skip would hide the check
            pytest.fail(why)
        pytest.skip(why)
    if Path(sys.base_prefix).resolve() == Path("/usr"):
        pytest.skip("the tests' Python is the system's (/usr), which cannot be shared into the "
                    "guest: run them from a virtualenv of a separately installed Python")
    image = vm.build_image(REPO / ".cache" / "vm")
    job = tmp_path_factory.mktemp("oomvm")
    write_job(job)
    status = vm.run_job(image, job, shares(), timeout=BOOT_TIMEOUT_S)
    results = job / "results.json"
    if status != 0 or not results.is_file():
        pytest.fail(f"the guest job ended with status {status} and no results\n"
                    + "\n".join(tail(job / n) for n in ("run.log", "console.log", "qemu.log")))
    return json.loads(results.read_text())


def oom_killed(kernel_log: str, unit: str, pid: int) -> bool:
    """The kernel's own report: ``pid`` killed by the OOM killer of ``unit``'s memory cgroup."""
    return (f"oom_memcg=/system.slice/{unit}" in kernel_log
            and f"Memory cgroup out of memory: Killed process {pid} " in kernel_log)


def case(guest: dict[str, Any], unit: str) -> dict[str, Any]:
    record = guest["cases"][unit]
    assert record.get("cameras_before"), f"{unit}: frames never flowed\n{record['journal']}"
    assert oom_killed(guest["kernel"], unit, record["victim_pid"]), guest["kernel"][-3000:]
    assert int(record["kill"]["events"]["oom_kill"]) >= 1, record["kill"]
    return record


@pytest.mark.vm
@vm_test
def test_continue_keeps_the_unit_active_and_the_decoder_is_restarted(guest: dict) -> None:
    record = case(guest, CONTINUE)
    before, after = record["before"], record["after"]
    assert "killed by the OOM killer" in record["journal"]      # systemd saw the kill
    assert not after.get("timed_out"), after
    assert after["props"]["ActiveState"] == "active", after
    assert after["props"]["MainPID"] == before["MainPID"]       # the same supervisor
    assert after["props"]["NRestarts"] == before["NRestarts"]
    assert (after["props"]["ActiveEnterTimestampMonotonic"]            # never left active
            == before["ActiveEnterTimestampMonotonic"])
    victim, bystander = after["cameras"]["victim"], after["cameras"]["bystander"]
    assert victim["pid"] != record["victim_pid"] and victim["up"] and victim["restarts"] >= 1
    assert bystander["pid"] == record["cameras_before"]["bystander"]["pid"]
    assert "oom-kill" not in record["journal"], record["journal"]


@pytest.mark.vm
@vm_test
def test_stop_policy_stops_the_unit_with_result_oom_kill(guest: dict) -> None:
    """The contrast: the same kill under systemd's default policy takes every camera down."""
    record = case(guest, STOP)
    after = record["after"]["props"]
    assert after["OOMPolicy"] == "stop"
    assert after["ActiveState"] != "active" and after["Result"] == "oom-kill", after
    assert "Failed with result 'oom-kill'" in record["journal"], record["journal"]
