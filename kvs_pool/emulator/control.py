"""The emulator's HTTP control API (``/_emulator/...``): state and fault injection.

    GET  /_emulator/state
    POST /_emulator/faults   one JSON object, ``fault`` names the action:

    {"fault": "expire_sessions", "stream": "cam-1"?}
    {"fault": "session_seconds", "seconds": 5 | null}
    {"fault": "error_burst", "status": 500, "count": 3, "code"?: "...", "plane"?: "control"|"data"|"any",
     "api"?: "GetMP4MediaFragment", "stream"?: "cam-1"}
    {"fault": "throttle", "count": 3, "plane"?, "api"?, "stream"?}     (400 ClientLimitExceededException)
    {"fault": "stall", "seconds": 40 | null, "stream"?}
    {"fault": "resume", "stream"?}
    {"fault": "corrupt", "count": 1, "stream"?}
    {"fault": "resolution", "width": 320, "height": 240, "stream"?}
    {"fault": "clear"}                                                  (drops pending bursts)

Answers ``{"ok": true, ...}`` or 400 ``{"__type": "InvalidArgumentException", "Message": ...}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from kvs_pool.emulator.faults import ErrorBurst
from kvs_pool.emulator.service import KVSEmulator, Reply, aws_error

__all__ = ["handle", "apply_fault"]

_BURST_KEYS = ("status", "count", "code", "plane", "api", "stream")


def _session_seconds(emu: KVSEmulator, doc: dict[str, Any]) -> dict[str, Any]:
    seconds = doc.get("seconds")
    emu.session_seconds = None if seconds is None else float(seconds)
    return {"session_seconds": emu.session_seconds}


def _burst(emu: KVSEmulator, doc: dict[str, Any]) -> dict[str, Any]:
    emu.add_burst(ErrorBurst(**{k: doc[k] for k in _BURST_KEYS if k in doc}))
    return {}


def _throttle(emu: KVSEmulator, doc: dict[str, Any]) -> dict[str, Any]:
    return _burst(emu, {**doc, "status": 400, "code": "ClientLimitExceededException"})


_FAULTS: dict[str, Callable[[KVSEmulator, dict[str, Any]], dict[str, Any]]] = {
    "expire_sessions": lambda e, d: {"expired": e.expire_sessions(d.get("stream"))},
    "session_seconds": _session_seconds,
    "error_burst": _burst,
    "throttle": _throttle,
    "stall": lambda e, d: e.stall(d.get("seconds"), d.get("stream")) or {},
    "resume": lambda e, d: e.resume(d.get("stream")) or {},
    "corrupt": lambda e, d: e.corrupt_next(int(d.get("count", 1)), d.get("stream")) or {},
    "resolution": lambda e, d: e.change_resolution(int(d["width"]), int(d["height"]),
                                                    d.get("stream")) or {},
    "clear": lambda e, d: e.bursts.clear() or {},
}


def apply_fault(emu: KVSEmulator, doc: dict[str, Any]) -> dict[str, Any]:
    """Apply one fault described as in the module docstring; raises on a bad request."""
    name = doc.get("fault")
    if name not in _FAULTS:
        raise ValueError(f"unknown fault {name!r}; one of {', '.join(_FAULTS)}")
    return {"ok": True, "fault": name, **_FAULTS[name](emu, doc)}


def handle(emu: KVSEmulator, method: str, path: str, body: bytes) -> Reply:
    """Answer one ``/_emulator/...`` request."""
    if method == "GET" and path == "/_emulator/state":
        return Reply(200, json.dumps(emu.state()).encode())
    if method == "POST" and path == "/_emulator/faults":
        try:
            result = apply_fault(emu, json.loads(body or b"{}"))
        except (ValueError, KeyError, TypeError) as exc:
            return aws_error(400, "InvalidArgumentException", f"bad fault request: {exc}")
        return Reply(200, json.dumps(result).encode())
    return aws_error(404, "UnknownOperationException", f"no control call {method} {path}")
