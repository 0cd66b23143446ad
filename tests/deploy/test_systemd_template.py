"""deploy/systemd/kvs-pool@.service: the instance is the shard index, and `systemd-analyze
verify` accepts an instance of the template (ExecStart pointed at the installed script)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "kvs-pool@.service"
INSTALLED = "/usr/local/bin/kvs-pool"

needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze missing (Debian: apt-get install systemd)")


def verify(text: str, directory: Path) -> str:
    """Output of ``systemd-analyze verify`` on instance 2 of the template."""
    script = Path(sys.executable).with_name("kvs-pool")
    assert script.is_file(), "the kvs-pool console script is not installed (pip install -e .)"
    unit = directory / "kvs-pool@2.service"
    unit.write_text(text.replace(INSTALLED, str(script)))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                            text=True, timeout=120)
    return f"rc={result.returncode}\n{result.stdout}{result.stderr}"


def test_instance_is_the_shard_index() -> None:
    text = UNIT.read_text()
    assert f"ExecStart={INSTALLED} run /etc/kvs-pool/site.yaml --shard %i/${{KVS_POOL_SHARDS}}" \
        in text
    assert "Type=notify" in text and "KillMode=mixed" in text


@needs_systemd_analyze
def test_systemd_analyze_verify_accepts_an_instance(tmp_path: Path) -> None:
    output = verify(UNIT.read_text(), tmp_path)
    assert output.startswith("rc=0") and "kvs-pool@2.service" not in output, output


@needs_systemd_analyze
def test_verify_would_catch_a_broken_unit(tmp_path: Path) -> None:
    output = verify(UNIT.read_text().replace("Type=notify", "Type=notifyy"), tmp_path)
    assert "notifyy" in output
