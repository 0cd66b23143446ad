"""A core install (no extras) into a fresh virtualenv: no onnxruntime/onnx, the README's client
example runs as written against a ring, and a config needing YOLO fails `check` with the pip
command. Slow (a real `pip install` of the checkout), so one module-scoped venv serves all."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from polling import wait_for
from ringtools import put

from kvs_pool.ring import RingGeometry, RingWriter, create_ring

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("core") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    result = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(ROOT)],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    return venv / "bin" / "python"


def _readme_client_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    return next(block for block in blocks if "kvs_pool.client.attach" in block)


def test_core_install_has_no_detection_runtime(core_venv: Path) -> None:
    probe = "import importlib.util as u; print(u.find_spec('onnxruntime'), u.find_spec('onnx'))"
    out = subprocess.run([str(core_venv), "-c", probe], capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.split() == ["None", "None"], out.stdout + out.stderr


@pytest.fixture
def demo_front(pool_name: str) -> Iterator[str]:
    owner = create_ring(pool_name, "front", RingGeometry(64, 48, slots=4))
    try:
        yield pool_name
    finally:
        owner.unlink()


def test_readme_client_example_runs_as_written(core_venv: Path, demo_front: str) -> None:
    code = _readme_client_example()
    assert 'pool="demo"' in code
    proc = subprocess.Popen([str(core_venv), "-c", code.replace('pool="demo"', f'pool="{demo_front}"')],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    lines: list[str] = []
    try:
        with RingWriter.attach(demo_front, "front") as writer:
            def one_more_line() -> bool:
                put(writer, 100, capture_ts=time.time())
                assert proc.stdout is not None
                lines.append(proc.stdout.readline())
                return len(lines) >= 3
            wait_for(one_more_line, 60, "three frames printed by the README example")
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    seq, _ts, missed, value = lines[-1].split()
    assert int(seq) >= 1 and int(missed) >= 0 and float(value) == 100.0


def test_yolo_config_names_the_extra_to_install(core_venv: Path, tmp_path: Path) -> None:
    config = tmp_path / "yolo.yaml"
    config.write_text("""
pool: {name: core}
cameras: [{id: cam, source: {url: "rtsp://127.0.0.1:8554/cam"}}]
pipelines:
  - {name: people, cameras: [cam], detector: {type: yolo}}
""")
    out = subprocess.run([str(core_venv), "-m", "kvs_pool", "check", str(config)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert ("pipelines[0].detector.type: the yolo detector needs onnxruntime, which is not "
            "installed: pip install 'kvs-pool[detect]'") in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
