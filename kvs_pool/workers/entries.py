"""The worker entry points as light callables: what a ``WorkerSpec`` holds and a fork runs.

A spec's entry is pickled by reference (``kvs_pool.workers.entries.run_decoder``) and unpickled
in the worker after the fork, which imports only this small module; each function imports its
worker's module when called, in the worker. So neither the supervisor nor a template imports a
worker's modules (OpenCV, the pipeline, boto3) to name its entry point.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["run_decoder", "run_inference", "INFERENCE_MODULE"]

INFERENCE_MODULE = "kvs_pool.workers.inference"


def run_decoder(payload: Any, stop: threading.Event) -> int:
    """A camera's decoder (``kvs_pool.workers.decoder.run_decoder``)."""
    from kvs_pool.workers.decoder import run_decoder as run
    return run(payload, stop)


def run_inference(payload: Any, stop: threading.Event) -> int:
    """A pipeline's inference worker (``kvs_pool.workers.inference.run_inference``)."""
    from kvs_pool.workers.inference import run_inference as run
    return run(payload, stop)
