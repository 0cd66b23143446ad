"""Fixtures of the pipeline tests: small ONNX models built here, the real YOLOv3-tiny, photos.

Photos come from Debian's ``darknet`` package, unpacked under ``<repo>/.cache/darknet`` (CI does
it) or the directory in ``$KVS_POOL_TEST_PHOTOS``. A missing photo fails the test with the
commands that fetch it: the real-model tests must never pass by being skipped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

REPO = Path(__file__).resolve().parents[2]
PHOTOS_DEFAULT = REPO / ".cache" / "darknet" / "usr" / "share" / "darknet" / "data"
FETCH_HINT = ("mkdir -p .cache/darknet && cd .cache/darknet && apt-get download darknet && "
              "dpkg -x darknet_*.deb .   (or set KVS_POOL_TEST_PHOTOS to a directory holding it)")


def photos_dir() -> Path:
    return Path(os.environ.get("KVS_POOL_TEST_PHOTOS") or PHOTOS_DEFAULT)


@pytest.fixture
def photo() -> Callable[[str], np.ndarray]:
    """Load a photo by file name; fail loudly, saying how to fetch it, when it is missing."""
    def load(name: str) -> np.ndarray:
        path = photos_dir() / name
        image = cv2.imread(str(path)) if path.is_file() else None
        if image is None:
            pytest.fail(f"test photo {path} is missing. Fetch it from the repo root: {FETCH_HINT}")
        return image
    return load


def write_constant_model(path: Path, output: np.ndarray, input_hw: tuple[int, int] | None,
                         names: object = None) -> Path:
    """An ONNX model whose output is ``output`` whatever its (1, 3, H, W) input.

    ``input_hw`` None makes the input's spatial size dynamic. ``names`` goes to the metadata
    as JSON (list) or as the Python dict literal Ultralytics writes (dict)."""
    h, w = input_hw if input_hw else ("h", "w")
    zero = helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0)
    mul = helper.make_node("Mul", ["mean", "zero"], ["nothing"])
    add = helper.make_node("Add", ["nothing", "const"], ["output0"])
    graph = helper.make_graph(
        [zero, mul, add], "constant",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, h, w])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(output.shape))],
        [numpy_helper.from_array(np.float32(0.0).reshape(()), "zero"),
         numpy_helper.from_array(output.astype(np.float32), "const")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    if names is not None:
        text = json.dumps(names) if isinstance(names, list) else repr(names)
        helper.set_model_props(model, {"names": text})
    onnx.save(model, str(path))
    return path


@pytest.fixture
def constant_model(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``constant_model(output, input_hw=(64, 64), names=[...])`` -> model path."""
    counter = iter(range(1000))

    def make(output: np.ndarray, input_hw: tuple[int, int] | None = (64, 64),
             names: object = None) -> Path:
        return write_constant_model(tmp_path / f"m{next(counter)}.onnx", output, input_hw, names)
    return make


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache of converted models for the whole session (conversion takes ~1 s)."""
    return tmp_path_factory.mktemp("models")
