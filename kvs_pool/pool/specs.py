"""The pool's worker specs, built from its config (the supervisor's ``WorkerSpec``).

A spec's ``fingerprint`` is the part of the config the worker really uses, so on SIGHUP
"changed" means ``old != new``: an inference worker gets the whole config as payload but
restarts only when its pipeline, its cameras or the pool/outbox/aws sections change. Adding a
kind is one builder here and one heartbeat rule (``kvs_pool.pool.heartbeats``).
"""

from __future__ import annotations

import importlib.util
from urllib.parse import urlsplit

from kvs_pool.config import CameraConfig, PipelineConfig, PoolConfig
from kvs_pool.supervisor.specs import WorkerSpec
from kvs_pool.workers import entries
from kvs_pool.workers.decoder import DecoderArgs

__all__ = ["specs_from_config", "DECODER_ENTRY", "INFERENCE_ENTRY", "KVS_PRELOAD",
           "SHARED_PRELOAD"]

DECODER_ENTRY = entries.run_decoder
INFERENCE_ENTRY = entries.run_inference
# Dummy credentials for the embedded emulator: boto3 must sign, the emulator does not check.
_MODEL_LOAD_S = 180.0   # an inference worker may convert/load a model before its first beat
_EMULATOR_ENV = (("AWS_ACCESS_KEY_ID", "emulator"), ("AWS_SECRET_ACCESS_KEY", "emulator"))
# What every worker shares (decoders: all of it; inference: numpy, cv2), imported by the templates
# before they fork. Never boto3 (only the KVS decoders' template adds it: WorkerSpec.preload)
# nor onnxruntime (inference workers only).
SHARED_PRELOAD = ("numpy", "cv2", "av", "setproctitle", "kvs_pool.ring", "kvs_pool.config",
                  "kvs_pool.sources.url", "kvs_pool.workers.decoder")
# KVS decoders start from a template that also holds boto3 (shared instead of imported by each);
# URL decoders' template has none of it.
KVS_PRELOAD = ("kvs_pool.workers.kvs_preload",)


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
    args = DecoderArgs(pool=config.pool.name, camera=camera)
    return WorkerSpec(
        name=f"decoder-{camera.id}", kind="decoder", entry=DECODER_ENTRY,
        payload=args, fingerprint=args,
        camera_id=camera.id, backoff=camera.backoff.policy(),
        heartbeat_timeout_s=camera.stall.heartbeat_timeout_s,
        frame_timeout_s=camera.stall.frame_timeout_s, target_fps=camera.target_fps, env=env,
        preload=KVS_PRELOAD if camera.source.kind == "kvs" else (), stop_last=True)


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
