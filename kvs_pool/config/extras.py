"""Optional parts of kvs-pool and the pip extra that brings each: a config that needs a part
which is not installed fails in ``kvs-pool check`` with the command to run, not at start-up.

| part             | modules              | extra                  |
|------------------|----------------------|------------------------|
| YOLO detection   | onnxruntime          | ``kvs-pool[detect]`` (or ``[gpu]``) |
| Darknet -> ONNX  | onnx                 | ``kvs-pool[detect]``   |
"""

from __future__ import annotations

import importlib.util

__all__ = ["missing_extra"]


def missing_extra(module: str, extra: str, purpose: str) -> str | None:
    """None when ``module`` can be imported, else the reason with the pip command."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if found:
        return None
    return f"{purpose} needs {module}, which is not installed: pip install 'kvs-pool[{extra}]'"
