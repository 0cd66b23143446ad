"""Optional: pass every non-KVS request to moto's server app, so one loopback port also serves
Kinesis Data Streams, S3 and DynamoDB for the demo (``EmulatorConfig(moto=True)``,
``kvs-pool emulate --moto``).

moto is a test dependency, not a runtime one: without it, enabling this is a clear error.
moto picks the service from the request's SigV4 credential scope, as its own server does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kvs_pool.emulator.service import Reply
from kvs_pool.errors import KvsPoolError

__all__ = ["make_fallback"]

log = logging.getLogger(__name__)

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "date",
               "server"}


def make_fallback() -> Callable[[str, str, bytes, Any], Reply]:
    """A request handler backed by moto's ``DomainDispatcherApplication``."""
    try:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.test import Client
    except ImportError as exc:
        raise KvsPoolError("the emulator's moto passthrough needs moto[server] installed "
                           "(pip install 'moto[server]')") from exc
    client = Client(DomainDispatcherApplication(create_backend_app))

    def forward(method: str, path: str, body: bytes, headers: Any) -> Reply:
        passed = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
        answer = client.open(path, method=method, headers=passed, data=body)
        out = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP}
        if method == "HEAD" and answer.headers.get("Content-Length"):
            out["Content-Length"] = answer.headers["Content-Length"]
        content_type = out.pop("Content-Type", "application/octet-stream")
        return Reply(answer.status_code, answer.get_data(), content_type, out)

    log.info("non-KVS requests go to moto")
    return forward
