"""The pool's status page and read-only HTTP API, served on the metrics port.

``web_app(view, config)`` builds the ``WebApp`` the supervisor hands to its ``MetricsServer``.
Docs: ``docs/http-api.md``.
"""

from __future__ import annotations

from typing import Any

from kvs_pool.metrics.view import PoolView
from kvs_pool.web.auth import Access, access_from_env
from kvs_pool.web.routes import WebApp

__all__ = ["WebApp", "Access", "access_from_env", "web_app"]


def web_app(view: PoolView, config: Any) -> WebApp:
    """The web app of a pool: events from the config's jsonl publishers, their snapshots from
    its s3 publishers, secret from the environment (``KVS_POOL_HTTP_TOKEN[_FILE]``,
    ``KVS_POOL_HTTP_BASIC[_FILE]``)."""
    from kvs_pool.web.events import jsonl_paths
    from kvs_pool.web.snapshots import SnapshotStore

    def current() -> Any:  # the arbiter swaps its config on SIGHUP: read the one in force
        return getattr(view, "config", config)
    return WebApp(view, lambda: jsonl_paths(current()), access_from_env(),
                  lambda: pipelines_by_camera(current()), SnapshotStore(current))


def pipelines_by_camera(config: Any) -> dict[str, list[str]]:
    """Camera id -> names of the pipelines that read it."""
    found: dict[str, list[str]] = {}
    for pipe in getattr(config, "pipelines", ()):
        for camera_id in pipe.cameras:
            found.setdefault(camera_id, []).append(pipe.name)
    return found
