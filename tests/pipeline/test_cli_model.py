"""`kvs-pool model convert|detect` (called through the module, the command is registered by the CLI)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from kvs_pool.cli import model as model_cli
from kvs_pool.errors import DetectorError


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    model_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.handler(args)


def test_convert_writes_an_onnx_file(tmp_path: Path, model_cache: Path, capsys) -> None:
    out = tmp_path / "m.onnx"
    assert run(["model", "convert", "--cache-dir", str(model_cache), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert out.stat().st_size > 30_000_000


def test_detect_prints_one_json_line_per_object(model_cache: Path, photo, tmp_path: Path,
                                                capsys) -> None:
    import cv2
    image = tmp_path / "dog.png"
    cv2.imwrite(str(image), photo("dog.jpg"))
    assert run(["model", "detect", str(image), "--cache-dir", str(model_cache),
                "--classes", "dog"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [d["class"] for d in lines] == ["dog"] and len(lines[0]["box"]) == 4


def test_detect_on_a_missing_image_is_a_plain_error(tmp_path: Path) -> None:
    with pytest.raises(DetectorError, match="cannot read image"):
        run(["model", "detect", str(tmp_path / "nothing.jpg")])
