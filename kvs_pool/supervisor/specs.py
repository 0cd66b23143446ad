"""Worker specs: what the supervisor runs, derived from a config, compared on reload.

A ``WorkerSpec`` is generic: a name, a kind, an entry point (a module-level function) called as
``fn(payload, stop) -> exit code`` in a spawned process (see ``kvs_pool.workers``), a picklable
payload, and the restart/stall settings. Specs compare by everything but the payload, plus a
``fingerprint`` of the part of the config the worker really uses, so on SIGHUP "changed" means
``old != new``: an inference worker gets the whole config as payload but restarts only when its
pipeline, its cameras or the pool/outbox/aws sections change. Adding a kind is one builder here.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from kvs_pool.backoff import BackoffPolicy
from kvs_pool.config import CameraConfig, PipelineConfig, PoolConfig
from kvs_pool.workers import entries
from kvs_pool.workers.decoder import DecoderArgs

__all__ = ["WorkerSpec", "specs_from_config", "DECODER_ENTRY", "INFERENCE_ENTRY"]

DECODER_ENTRY = entries.run_decoder
INFERENCE_ENTRY = entries.run_inference
# Dummy credentials for the embedded emulator: boto3 must sign, the emulator does not check.
_MODEL_LOAD_S = 180.0   # an inference worker may convert/load a model before its first beat
_EMULATOR_ENV = (("AWS_ACCESS_KEY_ID", "emulator"), ("AWS_SECRET_ACCESS_KEY", "emulator"))
# KVS decoders start from a template that also holds boto3 (shared instead of imported by each);
# URL decoders' template has none of it.
KVS_PRELOAD = ("kvs_pool.workers.kvs_preload",)


@dataclass(frozen=True)
class WorkerSpec:
    """One supervised worker."""

    name: str
    kind: str
    entry: Callable[..., int]         # module-level fn(payload, stop) -> exit code
    payload: Any = field(compare=False)
    fingerprint: Any = None             # what the worker depends on (compared on reload)
    camera_id: str | None = None
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    heartbeat_timeout_s: float = 20.0
    startup_grace_s: float = 0.0        # allowed before the first heartbeat (max with timeout)
    frame_timeout_s: float | None = None   # configured; None: derived (kvs_pool.stall)
    target_fps: float | None = None
    env: tuple[tuple[str, str], ...] = ()
    preload: tuple[str, ...] = ()       # modules its template imports beyond the shared ones


def uses_emulator(config: PoolConfig, camera: CameraConfig) -> bool:
    """Whether this camera reads from the pool's embedded emulator (and so gets dummy
    credentials); cameras on real AWS keep boto3's normal credential chain."""
    kvs = camera.source.kvs
    if not config.emulator.enabled or kvs is None or not kvs.endpoint_url:
        return False
    netloc = urlsplit(kvs.endpoint_url).netloc
    port = config.emulator.port
    return netloc in {f"{config.emulator.host}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"}


def decoder_spec(config: PoolConfig, camera: CameraConfig) -> WorkerSpec:
    """The decoder of one camera (named ``decoder-<camera id>``)."""
    env = _EMULATOR_ENV if uses_emulator(config, camera) else ()
    args = DecoderArgs(pool=config.pool.name, camera=camera, aws=config.aws)
    return WorkerSpec(
        name=f"decoder-{camera.id}", kind="decoder", entry=DECODER_ENTRY,
        payload=args, fingerprint=args,
        camera_id=camera.id, backoff=camera.backoff.policy(),
        heartbeat_timeout_s=camera.stall.heartbeat_timeout_s,
        frame_timeout_s=camera.stall.frame_timeout_s, target_fps=camera.target_fps, env=env,
        preload=KVS_PRELOAD if camera.source.kind == "kvs" else ())


def inference_spec(config: PoolConfig, pipeline: PipelineConfig) -> WorkerSpec:
    """The inference worker of one pipeline (named ``inference-<pipeline>``)."""
    cameras = tuple(config.camera(camera_id) for camera_id in pipeline.cameras)
    return WorkerSpec(
        name=f"inference-{pipeline.name}", kind="inference", entry=INFERENCE_ENTRY,
        payload=(config, pipeline.name),
        fingerprint=(pipeline, cameras, config.pool, config.outbox, config.aws),
        backoff=config.defaults.backoff.policy(),
        heartbeat_timeout_s=config.defaults.stall.heartbeat_timeout_s,
        startup_grace_s=_MODEL_LOAD_S)


def inference_available() -> bool:
    """True once the pipeline package ships its worker entry point."""
    return importlib.util.find_spec(entries.INFERENCE_MODULE) is not None


def specs_from_config(config: PoolConfig) -> dict[str, WorkerSpec]:
    """Every worker the config asks for, by name (decoders first, then inference)."""
    specs = [decoder_spec(config, camera) for camera in config.cameras]
    if config.pipelines and inference_available():
        specs += [inference_spec(config, pipeline) for pipeline in config.pipelines]
    return {spec.name: spec for spec in specs}
