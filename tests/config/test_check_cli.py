"""`kvs-pool check` as a user runs it: a real process, its output and exit code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

GOOD = """\
pool: {name: t1}
cameras:
  - {id: a, source: {url: "rtsp://h/1"}}
  - {id: b, source: {kvs: {stream_name: b, region: us-east-1}}}
pipelines:
  - {name: p, cameras: [a], detector: {type: yolo, model: models/m.onnx}}
"""


def check(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kvs_pool", "check", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_ok_summary_and_exit_zero(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.onnx").write_bytes(b"onnx")
    (tmp_path / "c.yaml").write_text(GOOD)
    result = check("c.yaml", cwd=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, "ok: 2 cameras, 1 pipeline\n", "")


def test_every_problem_one_per_line_and_exit_one(tmp_path: Path) -> None:
    bad = GOOD.replace("rtsp://h/1", "gopher://h/1").replace("id: b", "id: a").replace(
        "name: t1", "name: t.1")
    (tmp_path / "c.yaml").write_text(bad)
    result = check("c.yaml", cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "c.yaml:pool.name: 't.1' is not a valid name (letters, digits, '_' or '-', "
        "starting with a letter or digit, ≤ 48) (line 1)",
        "c.yaml:cameras[0].source.url: not an rtsp/http(s)/file URL (scheme 'gopher') (line 3)",
        "c.yaml:cameras[1].id: duplicate id 'a' (also cameras[0]) (line 4)",
        f"c.yaml:pipelines[0].detector.model: file not found: {tmp_path / 'models' / 'm.onnx'} "
        "(line 6)",
        "hint: files that exist only on the target host are skipped with --no-files",
    ]


def test_no_files_skips_host_only_files(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(GOOD)
    result = check("--no-files", "c.yaml", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout == "ok: 2 cameras, 1 pipeline (local files not checked)\n"


def test_missing_directory_and_garbage_files_give_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    (tmp_path / "broken.yaml").write_text("pool: {name: [x\n")
    expected = {
        "missing.yaml": "missing.yaml: no such file",
        ".": ".: is a directory, not a config file",
        "list.yaml": "list.yaml: the top level must be a mapping with 'pool' and 'cameras'",
        "broken.yaml": "broken.yaml:2:1: invalid YAML",
    }
    for name, message in expected.items():
        result = check(name, cwd=tmp_path)
        assert result.returncode == 1, name
        assert result.stderr.startswith(message), result.stderr
        assert "Traceback" not in result.stderr


def test_state_dir_that_cannot_be_written_is_reported(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(GOOD.replace("pool: {name: t1}",
                                                  "pool: {name: t1, state_dir: /proc/x}"))
    result = check("--no-files", "c.yaml", cwd=tmp_path)  # away from the host: not checked
    assert result.returncode == 0, result.stderr
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.onnx").write_bytes(b"onnx")
    result = check("c.yaml", cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("c.yaml:pool.state_dir: cannot create or write /proc/x "
                                    "(in /proc): "), result.stderr
    assert len(result.stderr.splitlines()) == 1
