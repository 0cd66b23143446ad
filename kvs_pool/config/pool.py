"""The whole document (``PoolConfig``) and its ``pool``, ``aws`` and metrics sections.

The pool name is part of every shared-memory segment name (``kvspool.<pool>.<camera>``), so it
follows the same pattern as camera ids. ``state_dir`` (outbox, worker stats) defaults to
``./var/<pool>`` resolved against the working directory at load time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from kvs_pool.config.assignment import AssignmentConfig
from kvs_pool.config.camera import (
    NAME_PATTERN,
    CameraConfig,
    CameraDefaults,
    valid_endpoint,
    valid_name,
    valid_region,
)
from kvs_pool.config.emulator import EmulatorSection
from kvs_pool.config.pipeline import PipelineConfig
from kvs_pool.config.publish import OutboxConfig
from kvs_pool.config.schema import between, greater_than, matches, not_empty, setting

__all__ = ["MetricsConfig", "PoolSection", "AwsConfig", "PoolConfig", "NAME_PATTERN"]


@dataclass(frozen=True, kw_only=True)
class MetricsConfig:
    """Where the Prometheus ``/metrics`` and ``/healthz`` endpoint listens (port 0: any)."""

    enabled: bool = True
    host: str = setting("127.0.0.1", check=matches(r"[^\s/]+", "a host name or address"))
    port: int = setting(9108, check=between(0, 65535))


@dataclass(frozen=True, kw_only=True)
class PoolSection:
    """The pool itself."""

    name: str = setting(check=valid_name)
    metrics: MetricsConfig = setting(factory=MetricsConfig)
    state_dir: str | None = setting(None, kind="path", doc="default ./var/<pool name>")
    shutdown_timeout_s: float = setting(10.0, check=greater_than(0))
    assignment: AssignmentConfig = setting(factory=AssignmentConfig)


@dataclass(frozen=True, kw_only=True)
class AwsConfig:
    """Defaults for every AWS client (KVS sources, publishers); unset values fall back to the
    normal boto3 chain (environment, ~/.aws, instance role)."""

    region: str | None = setting(None, check=valid_region)
    profile: str | None = setting(None, check=not_empty)
    endpoint_url: str | None = setting(None, check=valid_endpoint)


@dataclass(frozen=True, kw_only=True)
class PoolConfig:
    """A whole config file. After ``load_config`` every path is absolute, ``pool.state_dir``
    and ``outbox.path`` are set, and sources/publishers carry the ``aws`` defaults."""

    pool: PoolSection
    defaults: CameraDefaults = setting(factory=CameraDefaults)  # read before cameras
    aws: AwsConfig = setting(factory=AwsConfig)
    emulator: EmulatorSection = setting(factory=EmulatorSection)
    cameras: tuple[CameraConfig, ...] = setting(check=not_empty, inherit="defaults", unique="id")
    pipelines: tuple[PipelineConfig, ...] = setting((), unique="name")
    outbox: OutboxConfig = setting(factory=OutboxConfig)

    def camera(self, camera_id: str) -> CameraConfig:
        """The camera with this id (KeyError if none)."""
        for camera in self.cameras:
            if camera.id == camera_id:
                return camera
        raise KeyError(camera_id)

    @property
    def camera_ids(self) -> tuple[str, ...]:
        return tuple(camera.id for camera in self.cameras)

    def pipelines_for(self, camera_id: str) -> tuple[PipelineConfig, ...]:
        """The pipelines that read this camera."""
        return tuple(pipe for pipe in self.pipelines if camera_id in pipe.cameras)

    def validate(self) -> Iterator[tuple[str, str]]:
        ids = set(self.camera_ids)
        for index, pipe in enumerate(self.pipelines):
            for position, camera in enumerate(pipe.cameras):
                if camera not in ids:
                    yield (f"pipelines[{index}].cameras[{position}]",
                           f"no camera with id {camera!r} (cameras: {', '.join(sorted(ids))})")
        yield from self._emulator_streams()

    def _emulator_streams(self) -> Iterator[tuple[str, str]]:
        """Cameras pointed at the embedded emulator must name one of its streams."""
        if not self.emulator.enabled:
            return
        served = {stream.name for stream in self.emulator.streams}
        for index, camera in enumerate(self.cameras):
            kvs = camera.source.kvs
            endpoint = (kvs.endpoint_url or self.aws.endpoint_url or "") if kvs else ""
            if (kvs and endpoint.rstrip("/") == self.emulator.endpoint_url
                    and kvs.stream_name not in served):
                yield (f"cameras[{index}].source.kvs.stream_name",
                       f"the emulator serves no stream {kvs.stream_name!r} "
                       f"(emulator.streams: {', '.join(sorted(served))})")

