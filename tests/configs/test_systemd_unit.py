"""configs/kvs-pool.service: the directives the supervisor relies on, and `systemd-analyze
verify` (Debian package `systemd`) on a copy whose ExecStart points at the installed script."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "configs" / "kvs-pool.service"
INSTALLED = "/usr/local/bin/kvs-pool"


def directives() -> dict[str, list[str]]:
    """``section.Key`` -> values, in order (keys may repeat)."""
    found: dict[str, list[str]] = {}
    section = ""
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.setdefault(f"{section}.{key}", []).append(value)
    return found


def test_unit_has_the_settings_the_supervisor_relies_on() -> None:
    unit = directives()
    expected = {"Type": "notify", "NotifyAccess": "main", "WatchdogSec": "30",
                "Restart": "on-failure", "KillMode": "mixed", "User": "kvs-pool",
                "RuntimeDirectory": "kvs-pool", "StateDirectory": "kvs-pool"}
    for key, value in expected.items():
        assert unit[f"Service.{key}"] == [value], key
    assert "Service.TimeoutStopSec" in unit
    # One decoder killed for memory must not stop the unit (the default OOMPolicy=stop would).
    assert unit["Service.OOMPolicy"] == ["continue"]
    assert unit["Service.EnvironmentFile"] == ["-/etc/kvs-pool/env"]
    assert unit["Service.ExecStart"][0].startswith(f"{INSTALLED} run ")
    # Hardening must leave the host's /dev/shm shared with consumers outside the unit.
    for key in ("Service.TemporaryFileSystem", "Service.InaccessiblePaths", "Service.RemoveIPC"):
        assert not any("/dev" in v or v == "yes" for v in unit.get(key, [])), key


def installed_script() -> str | None:
    beside_python = Path(sys.executable).with_name("kvs-pool")
    if beside_python.is_file():
        return str(beside_python)
    return shutil.which("kvs-pool")


needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze missing (Debian: apt-get install systemd)")


def verify(text: str, directory: Path) -> subprocess.CompletedProcess[str]:
    """``systemd-analyze verify`` on ``text`` with ExecStart pointing at the installed script."""
    script = installed_script()
    assert script, "the kvs-pool console script is not installed (pip install -e .)"
    rendered = directory / UNIT.name
    rendered.write_text(text.replace(INSTALLED, script))
    return subprocess.run(["systemd-analyze", "verify", str(rendered)],
                          capture_output=True, text=True, timeout=120)


@needs_systemd_analyze
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    result = verify(UNIT.read_text(), tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert UNIT.name not in output, output     # no warning about our file at all


@needs_systemd_analyze
def test_verify_would_catch_a_broken_unit(tmp_path: Path) -> None:
    """The check above can fail: a typo in a directive is reported."""
    result = verify(UNIT.read_text().replace("Type=notify", "Type=notifyy"), tmp_path)
    assert "notifyy" in result.stdout + result.stderr


def exposure(text: str, directory: Path) -> float:
    """``systemd-analyze security --offline`` overall exposure of ``text`` (0 best, 10 worst)."""
    rendered = directory / UNIT.name
    rendered.write_text(text)
    result = subprocess.run(["systemd-analyze", "security", "--offline=true", str(rendered)],
                            capture_output=True, text=True, timeout=120)
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    return float(match.group(1))


@needs_systemd_analyze
def test_security_exposure_is_at_most_2_5(tmp_path: Path) -> None:
    assert exposure(UNIT.read_text(), tmp_path) <= 2.5


@needs_systemd_analyze
def test_exposure_check_would_catch_a_loosened_unit(tmp_path: Path) -> None:
    loosened = "\n".join(line for line in UNIT.read_text().splitlines()
                         if not line.startswith(("SystemCallFilter", "ProtectProc",
                                                 "CapabilityBoundingSet", "PrivateDevices")))
    assert exposure(loosened, tmp_path) > 2.5
