"""`kvs-pool check` names every endpoint a config binds beyond loopback (a warning on stderr,
exit 0), and says nothing about loopback ones."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CONFIG = """\
pool: {{name: t1, metrics: {{host: {metrics}, port: 0}}}}
emulator:
  enabled: true
  host: {emulator}
  streams: [{{name: demo-1, width: 320, height: 240}}]
cameras:
  - {{id: a, source: {{url: "rtsp://h/1"}}}}
"""


def _check(tmp_path: Path, metrics: str, emulator: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "c.yaml").write_text(CONFIG.format(metrics=metrics, emulator=emulator))
    return subprocess.run([sys.executable, "-m", "kvs_pool", "check", "c.yaml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)


def test_non_loopback_addresses_are_named(tmp_path: Path) -> None:
    result = _check(tmp_path, "0.0.0.0", "192.0.2.7")
    assert result.returncode == 0 and result.stdout.startswith("ok: 1 camera"), result
    lines = result.stderr.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("warning: c.yaml:pool.metrics.host: 0.0.0.0 is not a loopback")
    assert lines[1].startswith("warning: c.yaml:emulator.host: 192.0.2.7 is not a loopback")
    assert "fault endpoint still refuses them" in lines[1]


def test_loopback_addresses_are_quiet(tmp_path: Path) -> None:
    result = _check(tmp_path, "127.0.0.1", "localhost")
    assert (result.returncode, result.stderr) == (0, ""), result
