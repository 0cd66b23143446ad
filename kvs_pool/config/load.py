"""``load_config(path)``: read, validate and complete a config file, or raise ``ConfigError``.

Every problem of the file is collected before raising (``ConfigError.problems``, one
``file:dotted.key: reason`` each). Completion fills what depends on other sections: the state
directory (``./var/<pool>``), the outbox path (``<state_dir>/outbox.sqlite3``) and the ``aws``
defaults (region, profile, endpoint_url) of KVS sources and AWS publishers. With
``check_files`` (the default) the state directory must also be creatable and writable.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from kvs_pool.config.document import Document, parse_text, read_document
from kvs_pool.config.pool import AwsConfig, PoolConfig
from kvs_pool.config.schema import Reader
from kvs_pool.errors import ConfigError
from kvs_pool.private_files import state_dir_problem

__all__ = ["load_config", "parse_config"]

_AWS_KEYS = ("region", "profile", "endpoint_url")


def load_config(path: str | os.PathLike[str], *, check_files: bool = True,
                base_dir: str | None = None) -> PoolConfig:
    """The validated config in ``path``. Relative paths in it are resolved against ``base_dir``
    (default: the working directory). ``check_files=False`` skips the existence of local
    files (models, class names, file sources) — for checking a config away from its host."""
    label = os.fspath(path)
    return _build(read_document(label), label, check_files, base_dir)


def parse_config(text: str, label: str = "<config>", *, check_files: bool = True,
                 base_dir: str | None = None) -> PoolConfig:
    """Like ``load_config`` for YAML text already in memory."""
    return _build(parse_text(text, label), label, check_files, base_dir)


def _build(document: Document, label: str, check_files: bool, base_dir: str | None) -> PoolConfig:
    reader = Reader(label, document.lines, check_files, base_dir)
    for path in document.duplicates:
        reader.problem(path, "duplicate key (YAML would keep only the last)")
    if document.data is None:
        raise ConfigError([f"{label}: the file is empty"])
    if not isinstance(document.data, Mapping):
        raise ConfigError([f"{label}: the top level must be a mapping with 'pool' and 'cameras'"])
    config = reader.read(PoolConfig, document.data, "")
    if reader.problems:
        raise ConfigError(reader.problems)
    complete = _complete(config, reader.base_dir)
    if check_files:  # a host-only property, like the files: the pool must be able to write it
        problem = state_dir_problem(str(complete.pool.state_dir))
        if problem:
            reader.problem("pool.state_dir", problem)
            raise ConfigError(reader.problems)
    return complete


def _complete(config: PoolConfig, base_dir: str) -> PoolConfig:
    """Fill the settings that depend on other sections."""
    state_dir = config.pool.state_dir or os.path.join(base_dir, "var", config.pool.name)
    outbox_path = config.outbox.path or os.path.join(state_dir, "outbox.sqlite3")
    cameras = tuple(_camera_with_aws(camera, config.aws) for camera in config.cameras)
    pipelines = tuple(
        dataclasses.replace(pipe, publishers=tuple(_with_aws(pub, config.aws) for pub in pipe.publishers))
        for pipe in config.pipelines)
    return dataclasses.replace(
        config, cameras=cameras, pipelines=pipelines,
        pool=dataclasses.replace(config.pool, state_dir=state_dir),
        outbox=dataclasses.replace(config.outbox, path=outbox_path))


def _camera_with_aws(camera: Any, aws: AwsConfig) -> Any:
    kvs = camera.source.kvs
    if kvs is None:
        return camera
    source = dataclasses.replace(camera.source, kvs=_with_aws(kvs, aws))
    return dataclasses.replace(camera, source=source)


def _with_aws(item: Any, aws: AwsConfig) -> Any:
    """``item`` with its unset region/profile/endpoint_url taken from the ``aws`` section."""
    if not all(hasattr(item, key) for key in _AWS_KEYS):
        return item
    changes = {key: getattr(aws, key) for key in _AWS_KEYS
               if hasattr(item, key) and getattr(item, key) is None}
    return dataclasses.replace(item, **changes)
