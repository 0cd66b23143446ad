"""The guest side of tests/configs/test_systemd_oom.py: runs as root inside the test VM
(tests/vm.py), under systemd as PID 1 with cgroup v2.

For each unit the host rendered into the job directory, in turn: install the unit and the pool's
config, start the unit, wait for frames from every camera, make the kernel OOM-kill the decoder
of camera ``victim``, wait for the outcome (the unit left ``active``, or the supervisor restarted
that decoder and frames flow again), and record what systemd, the kernel and the pool said.
Everything goes to ``<job>/results.json``; the host judges it. Nothing here asserts.

The kill: the victim's ``oom_score_adj`` goes to 1000 and every other process of the unit's
to -1000 (exempt), the unit's page cache is reclaimed, then its ``memory.max`` is set below
``memory.current`` by the victim's private anonymous memory. The kernel cannot reclaim that
(no swap), so its memory-cgroup OOM killer kills the one process it may: the victim. The limit
and the other processes' scores are restored at once, before the supervisor restarts the
decoder (a new decoder is forked from the template, whose score it inherits).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
JOB = Path(sys.argv[1])
CONFIG = Path("/etc/kvs-pool/site.yaml")
KVS_POOL = str(Path(sys.executable).with_name("kvs-pool"))
SETTLE_S = 300.0          # TCG emulation: a decoder restart takes tens of seconds
PROPS = ("ActiveState", "SubState", "Result", "MainPID", "NRestarts", "OOMPolicy",
         "ActiveEnterTimestampMonotonic")


def log(message: str) -> None:
    """A progress line in ``<job>/run.log``, which the host can read while the guest runs."""
    print(f"{time.monotonic():8.1f} {message}", flush=True)


def sh(*argv: str) -> str:
    """A command's standard output (its failures show in what the host gets)."""
    return subprocess.run(argv, capture_output=True, text=True, timeout=900).stdout


def show(unit: str) -> dict[str, str]:
    """``systemctl show``'s PROPS of ``unit``."""
    lines = sh("systemctl", "show", *(f"-p{p}" for p in PROPS), unit).splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def wait(predicate: Callable[[], T | None], describe: Callable[[], str]) -> T | None:
    """``predicate``'s first truthy value within SETTLE_S, else None; ``describe`` says what
    it sees every 30 s."""
    start = time.monotonic()
    shown = start
    while time.monotonic() - start < SETTLE_S:
        value = predicate()
        if value:
            return value
        if time.monotonic() - shown > 30:
            log(f"  still waiting: {describe()}")
            shown = time.monotonic()
        time.sleep(1.0)
    return None


def status(*args: str) -> str:
    """``kvs-pool status`` as the pool's user (the rings are its own, mode 0600)."""
    return sh("runuser", "-u", "kvs-pool", "--", KVS_POOL, "status", *args, str(CONFIG))


def cameras() -> dict[str, dict[str, Any]]:
    """``kvs-pool status --json``'s rows by camera id ({} while it has none)."""
    try:
        return {row["camera_id"]: row for row in json.loads(status("--json"))["cameras"]}
    except ValueError:
        return {}


def flowing(victim_not: int = 0) -> dict[str, Any] | None:
    """Every camera's row when each decoder is up and delivered a frame in the last 5 s (and
    the victim's decoder is not pid ``victim_not``), else None."""
    rows = cameras()
    fresh = rows and all(r.get("running") and r.get("up") and r.get("frames", 0) > 0
                         and r["last_frame_age"] < 5.0 for r in rows.values())
    return rows if fresh and rows["victim"]["pid"] != victim_not else None


def private_anon_kb(pid: int) -> int:
    """Private dirty kB of ``pid``'s anonymous mappings: freed when it dies (the rings, shared
    files, are not)."""
    total, anonymous = 0, False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if "-" in fields[0] and ":" not in fields[0]:          # a mapping's header line
            anonymous = len(fields) < 6 or fields[5].startswith("[")
        elif fields[0] == "Private_Dirty:" and anonymous:
            total += int(fields[1])
    return total


def set_adj(pid: int, value: str) -> str:
    """Set ``pid``'s oom_score_adj; returns the old value ('' if the process is gone)."""
    path = Path(f"/proc/{pid}/oom_score_adj")
    try:
        old = path.read_text().strip()
        path.write_text(value)
        return old
    except (FileNotFoundError, ProcessLookupError):
        return ""


def oom_kill(unit: str, pid: int) -> dict[str, Any]:
    """Make the kernel OOM-kill ``pid`` in ``unit``'s cgroup (see the module docstring)."""
    cgroup = Path("/sys/fs/cgroup/system.slice") / unit
    others = [int(p) for p in (cgroup / "cgroup.procs").read_text().split() if int(p) != pid]
    saved = {other: set_adj(other, "-1000") for other in others}
    set_adj(pid, "1000")
    try:
        return squeeze(cgroup, private_anon_kb(pid))
    finally:
        for other, adj in saved.items():
            if adj:
                set_adj(other, adj)


def squeeze(cgroup: Path, margin_kb: int) -> dict[str, Any]:
    """Reclaim the cgroup's page cache, hold its ``memory.max`` ``margin_kb`` below its usage
    while the kernel enforces it, then lift it; with what ``memory.events`` counted."""
    try:
        (cgroup / "memory.reclaim").write_text(str(1 << 30))
    except OSError:                          # EAGAIN: not all of it was reclaimable, as expected
        pass
    limit = int((cgroup / "memory.current").read_text()) - margin_kb * 1024
    try:
        (cgroup / "memory.max").write_text(str(limit))   # returns once usage is under it
        events = (cgroup / "memory.events").read_text()
    finally:
        (cgroup / "memory.max").write_text("max")
    return {"margin_kb": margin_kb, "limit": limit,
            "events": dict(line.split() for line in events.splitlines())}


def outcome(unit: str, victim: int) -> dict[str, Any]:
    """Wait until the unit is no longer active, or the victim's decoder is back with frames."""
    def settled() -> dict[str, Any] | None:
        props = show(unit)
        if props["ActiveState"] != "active":
            return {"props": props}
        rows = flowing(victim_not=victim)
        return {"props": props, "cameras": rows} if rows else None

    def describe() -> str:
        return json.dumps([show(unit), cameras()])

    found = wait(settled, describe)
    return found or {"props": show(unit), "cameras": cameras(), "timed_out": True}


def run_case(unit: str) -> dict[str, Any]:
    """Start ``unit``, kill its victim decoder once frames flow, record, stop it."""
    log(f"{unit}: starting")
    record: dict[str, Any] = {"start": sh("systemctl", "start", unit), "before": show(unit)}
    log(f"{unit}: {record['before']['ActiveState']}; waiting for frames")
    before = wait(flowing, lambda: json.dumps(cameras()))
    record["cameras_before"] = before
    if before is not None:
        victim = int(before["victim"]["pid"])
        record["victim_pid"] = victim
        log(f"{unit}: frames flow; OOM-killing the victim's decoder, pid {victim}")
        record["kill"] = oom_kill(unit, victim)
        record["after"] = outcome(unit, victim)
        log(f"{unit}: settled: {record['after']['props']['ActiveState']}")
        record["status_table"] = status()
    sh("systemctl", "stop", unit)
    log(f"{unit}: stopped")
    record["journal"] = sh("journalctl", "-u", unit, "-o", "cat", "--no-pager")
    return record


def install(units: list[Path]) -> None:
    """The pool's user, its config and the units, as configs/kvs-pool.service's header says."""
    subprocess.run(["useradd", "--system", "--user-group", "--home-dir", "/var/lib/kvs-pool",
                    "--shell", "/usr/sbin/nologin", "kvs-pool"], check=True)
    CONFIG.parent.mkdir(mode=0o750, exist_ok=True)
    shutil.copy(JOB / "site.yaml", CONFIG)
    for path, mode in ((CONFIG.parent, 0o750), (CONFIG, 0o640)):
        shutil.chown(path, group="kvs-pool")
        path.chmod(mode)
    for unit in units:
        shutil.copy(unit, Path("/etc/systemd/system") / unit.name)
    subprocess.run(["systemctl", "daemon-reload"], check=True)


def main() -> None:
    plan = json.loads((JOB / "plan.json").read_text())
    install([JOB / "units" / name for name in plan["units"]])
    results: dict[str, Any] = {"cases": {}}
    for unit in plan["units"]:
        results["cases"][unit] = run_case(unit)
    results["kernel"] = sh("journalctl", "-k", "-o", "cat", "--no-pager")
    (JOB / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
