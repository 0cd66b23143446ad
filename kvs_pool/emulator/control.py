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

Answers ``{"ok": true, ...}`` or 400 ``{"__type": "InvalidArgumentException", "Message": ...}``
naming the field at fault (types and bounds: ``kvs_pool.emulator.fault_args``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from kvs_pool.emulator.fault_args import FaultRequestError, as_object, integer, number, text
from kvs_pool.emulator.faults import PLANES, ErrorBurst
from kvs_pool.emulator.service import KVSEmulator, Reply, aws_error

__all__ = ["handle", "apply_fault"]

_Doc = dict[str, Any]


def _session_seconds(emu: KVSEmulator, doc: _Doc) -> _Doc:
    emu.session_seconds = number(doc, "seconds", 0.1, 43200)
    return {"session_seconds": emu.session_seconds}


def _burst(emu: KVSEmulator, doc: _Doc) -> _Doc:
    plane = text(doc, "plane") or "any"
    if plane not in PLANES:
        raise FaultRequestError(f"plane: must be one of {', '.join(PLANES)}, not {plane!r}")
    emu.add_burst(ErrorBurst(status=integer(doc, "status", 400, 599),
                             count=integer(doc, "count", 1, 10000, default=1),
                             code=text(doc, "code") or "", plane=plane,
                             api=text(doc, "api") or "", stream=text(doc, "stream") or ""))
    return {}


def _throttle(emu: KVSEmulator, doc: _Doc) -> _Doc:
    return _burst(emu, {**doc, "status": 400, "code": "ClientLimitExceededException"})


def _resolution(emu: KVSEmulator, doc: _Doc) -> _Doc:
    width = integer(doc, "width", 16, 7680, even=True)
    height = integer(doc, "height", 16, 4320, even=True)
    emu.change_resolution(width, height, text(doc, "stream"))
    return {}


def _stall(emu: KVSEmulator, doc: _Doc) -> _Doc:
    emu.stall(number(doc, "seconds", 0.1, 86400), text(doc, "stream"))
    return {}


def _resume(emu: KVSEmulator, doc: _Doc) -> _Doc:
    emu.resume(text(doc, "stream"))
    return {}


def _corrupt(emu: KVSEmulator, doc: _Doc) -> _Doc:
    emu.corrupt_next(integer(doc, "count", 1, 1000, default=1), text(doc, "stream"))
    return {}


def _clear(emu: KVSEmulator, doc: _Doc) -> _Doc:
    emu.bursts.clear()
    return {}


_FAULTS: dict[str, Callable[[KVSEmulator, _Doc], _Doc]] = {
    "expire_sessions": lambda e, d: {"expired": e.expire_sessions(text(d, "stream"))},
    "session_seconds": _session_seconds,
    "error_burst": _burst,
    "throttle": _throttle,
    "stall": _stall,
    "resume": _resume,
    "corrupt": _corrupt,
    "resolution": _resolution,
    "clear": _clear,
}


def apply_fault(emu: KVSEmulator, doc: Any) -> _Doc:
    """Apply one fault described as in the module docstring; raises ``FaultRequestError``
    (or ``KeyError``: no such stream) on a bad request."""
    name = as_object(doc).get("fault")
    if not isinstance(name, str) or name not in _FAULTS:
        raise FaultRequestError(f"unknown fault {name!r}; one of {', '.join(_FAULTS)}")
    return {"ok": True, "fault": name, **_FAULTS[name](emu, doc)}


def handle(emu: KVSEmulator, method: str, path: str, body: bytes) -> Reply:
    """Answer one ``/_emulator/...`` request."""
    if method == "GET" and path == "/_emulator/state":
        return Reply(200, json.dumps(emu.state()).encode())
    if method == "POST" and path == "/_emulator/faults":
        try:
            result = apply_fault(emu, json.loads(body or b"{}"))
        except (ValueError, KeyError) as exc:  # JSON, UTF-8, a field, or no such stream
            return aws_error(400, "InvalidArgumentException", f"bad fault request: {exc}")
        return Reply(200, json.dumps(result).encode())
    return aws_error(404, "UnknownOperationException", f"no control call {method} {path}")
