"""Secrets (RTSP passwords, MQTT passwords, webhook HMAC keys) read from the environment or a
file at the moment they are needed, so they never sit in a config file, a log line or a metric.

A config names where a secret lives (``password_env: CAM_PASSWORD`` or ``password_file:
/run/secrets/cam``), never the secret itself. A file's content is taken without its trailing
newline (``echo secret > file`` works). A missing variable or unreadable file is a
``ConfigError`` naming the setting and the variable or file, not the value.
"""

from __future__ import annotations

import os
from pathlib import Path

from kvs_pool.errors import ConfigError

__all__ = ["read_secret"]


def read_secret(env: str | None, file: str | os.PathLike[str] | None, what: str) -> str | None:
    """The secret from ``env`` (a variable name) or ``file``; None when neither is set.

    ``what`` names the setting in errors (e.g. ``cameras[gate].source.password_env``)."""
    if env:
        value = os.environ.get(env)
        if value is None:
            raise ConfigError([f"{what}: environment variable {env} is not set"])
        return value
    if file:
        try:
            return Path(file).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ConfigError([f"{what}: cannot read secret file {file}: {exc.strerror}"]) from None
    return None
