"""An inference worker's telemetry page: its ``kvs_pool.telemetry`` numbers and a monotonic
heartbeat in a small shared-memory segment, ``kvspool.<pool>.telemetry.<worker>`` (no camera id
contains a '.', so no ring has this name).

The worker creates the page at start (a leftover of its previous run is replaced), rewrites it
about once a second and unlinks it at exit; it keeps ``flock(LOCK_SH)`` on it meanwhile, so a
page left by a killed worker is removed by the pool's ``sweep_stale`` at its next start. Readers
(the ``/metrics`` collector, the supervisor's heartbeat rule) open it with the rings' trust
checks (``kvs_pool.ring.segment.open_segment``: ours and mode 0600, else refused) and get the
document the stats file had (``kvs_pool.pipeline.stats`` layout plus ``"outbox"``).

Byte layout (little-endian 8-byte words; ``C`` cameras and ``P`` publishers fixed at creation;
``H = len(LATENCY_BUCKETS) + 1`` histogram buckets; values are f64 so one word holds a counter,
a gauge or NaN for "none")::

    word            field            type  meaning
    --------------  ---------------  ----  ----------------------------------------------------
       0            magic            u64   b"KVSPSTAT", written last at creation
       1            layout_version   u64   PAGE_VERSION; readers refuse any other
       2            cameras          u64   C
       3            publishers       u64   P
       4            seq              u64   seqlock: odd while the writer updates words 5..
       5            pid              f64   the worker's process id
       6            heartbeat_mono   f64   time.monotonic() (CLOCK_MONOTONIC) of the last update
       7 .. 7+H-1   buckets          f64   per-bucket counts (not cumulative), +Inf last
       7+H          latency_sum      f64   seconds
       8+H .. +5    outbox           f64   telemetry.OUTBOX values, in its order
      14+H ..       camera records   C x (32 name words: UTF-8, NUL-padded, cut at 256 bytes;
                                     then one f64 per telemetry.CAMERA key, in its order)
      after them    publisher recs   P x (32 name words; then one f64 per telemetry.PUBLISHER key)

Single writer; a reader retries while ``seq`` is odd or changed under it (seqlock).
"""

from __future__ import annotations

import math
import os
import struct
import time
from collections.abc import Mapping, Sequence
from multiprocessing import shared_memory
from typing import Any

from kvs_pool.errors import RingError, RingNotFoundError
from kvs_pool.ring.layout import NAME_PREFIX, validate_name
from kvs_pool.ring.segment import (
    SHM_DIR,
    create_segment,
    foreign_reason,
    open_segment,
    remove_foreign,
    unlink_segment,
)
from kvs_pool.telemetry import CAMERA, LATENCY_BUCKETS, OUTBOX, PUBLISHER, Family, keys

__all__ = ["PAGE_VERSION", "page_name", "TelemetryPage", "read_page", "page_workers"]

MAGIC = int.from_bytes(b"KVSPSTAT", "little")
PAGE_VERSION = 1
_NAME_WORDS = 32                     # 256 bytes: a longer name (a webhook URL) is cut
_H = len(LATENCY_BUCKETS) + 1
_BUCKETS, _SUM, _OUTBOX = 7, 7 + _H, 8 + _H
_RECORDS = _OUTBOX + len(OUTBOX)
_READ_TRIES = 100


def page_name(pool: str, worker: str) -> str:
    """``kvspool.<pool>.telemetry.<worker>``."""
    pool, worker = validate_name("pool name", pool), validate_name("worker", worker)
    return f"{NAME_PREFIX}.{pool}.telemetry.{worker}"


def page_workers(pool: str) -> list[str]:
    """The workers of ``pool`` that have a telemetry page now, by name."""
    prefix = page_name(pool, "x")[:-1]
    try:
        return sorted(e[len(prefix):] for e in os.listdir(SHM_DIR) if e.startswith(prefix))
    except FileNotFoundError:
        return []


def _size(cameras: int, publishers: int) -> int:
    words = (_RECORDS + cameras * (_NAME_WORDS + len(CAMERA))
             + publishers * (_NAME_WORDS + len(PUBLISHER)))
    return -(-words * 8 // 4096) * 4096


def _name_bytes(name: str) -> bytes:
    """The name's UTF-8, cut to the field on a character boundary, NUL-padded."""
    raw = name.encode()[:_NAME_WORDS * 8].decode(errors="ignore").encode()
    return raw.ljust(_NAME_WORDS * 8, b"\0")


class TelemetryPage:
    """The writer's side: create, ``publish`` a stats document, ``close`` (unlinks)."""

    def __init__(self, shm: shared_memory.SharedMemory, cameras: Sequence[str],
                 publishers: Sequence[str]) -> None:
        self.shm, self.cameras, self.publishers = shm, list(cameras), list(publishers)
        buf = _mapped(shm)
        self.u = buf.cast("Q")
        self.f = buf.cast("d")

    @classmethod
    def create(cls, pool: str, worker: str, cameras: Sequence[str],
               publishers: Sequence[str]) -> TelemetryPage:
        """A fresh page (replacing a previous run's), 0600, names written, magic last."""
        name = page_name(pool, worker)
        reason = foreign_reason(name)
        if reason is None:
            unlink_segment(name)          # our previous run's page (killed before its unlink)
        else:
            remove_foreign(name, reason)
        page = cls(create_segment(name, _size(len(cameras), len(publishers))), cameras, publishers)
        page.u[1], page.u[2], page.u[3] = PAGE_VERSION, len(cameras), len(publishers)
        for word, label in _name_slots(cameras, publishers):
            _mapped(page.shm)[word * 8:(word + _NAME_WORDS) * 8] = _name_bytes(label)
        page.u[0] = MAGIC
        return page

    def publish(self, doc: Mapping[str, Any]) -> None:
        """Write ``doc``'s numbers (schema keys) and stamp the heartbeat, under the seqlock."""
        values = list(_values(doc, self.cameras, self.publishers))
        self.u[4] += 1
        for word, value in values:
            self.f[word] = value
        self.f[5], self.f[6] = float(os.getpid()), time.monotonic()
        self.u[4] += 1

    def close(self) -> None:
        """Unlink the page and unmap it."""
        unlink_segment(self.shm.name.lstrip("/"))
        self.u.release()
        self.f.release()
        self.shm.close()


def _mapped(shm: shared_memory.SharedMemory) -> memoryview:
    """The segment's bytes (``SharedMemory.buf`` is None once it is closed)."""
    if shm.buf is None:
        raise RingError(f"telemetry page {shm.name}: already closed")
    return shm.buf


def _name_slots(camera_ids: Sequence[str],
                publisher_ids: Sequence[str]) -> list[tuple[int, str]]:
    """``(first word, name)`` of each record, cameras then publishers."""
    slots, word = [], _RECORDS
    for label in camera_ids:
        slots.append((word, label))
        word += _NAME_WORDS + len(CAMERA)
    for label in publisher_ids:
        slots.append((word, label))
        word += _NAME_WORDS + len(PUBLISHER)
    return slots


def _number(value: Any) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return float(value) if ok else math.nan


def _values(doc: Mapping[str, Any], cameras: Sequence[str],
            publishers: Sequence[str]) -> list[tuple[int, float]]:
    """``(word, value)`` of every number of ``doc`` the layout has a place for."""
    hist = doc.get("inference_seconds") or {}
    counts = list((hist.get("buckets") or {}).values())
    out = [(_BUCKETS + i, _number(c) - _number(p)) for i, (p, c)
           in enumerate(zip([0, *counts], counts))][:_H]
    out.append((_SUM, _number(hist.get("sum", 0.0))))
    outbox = doc.get("outbox") or {}
    out += [(_OUTBOX + i, _number(outbox.get(k))) for i, k in enumerate(keys(OUTBOX))]
    records = ([(doc.get("cameras") or {}).get(c) or {} for c in cameras]
               + [(outbox.get("publishers") or {}).get(p) or {} for p in publishers])
    fams = [CAMERA] * len(cameras) + [PUBLISHER] * len(publishers)
    for (word, _), rec, fam in zip(_name_slots(cameras, publishers), records, fams):
        out += [(word + _NAME_WORDS + i, _number(rec.get(k))) for i, k in enumerate(keys(fam))]
    return out


def read_page(pool: str, worker: str) -> dict[str, Any] | None:
    """The worker's stats document from its page (None: no page). ``RingError`` (its subclass
    ``RingUntrustedError``) names a page that is not ours or not 0600, or unreadable."""
    try:
        shm = open_segment(page_name(pool, worker), f"telemetry of worker {worker}")
    except RingNotFoundError:
        return None
    try:
        return _snapshot(shm)
    finally:
        shm.close()


def _snapshot(shm: shared_memory.SharedMemory) -> dict[str, Any]:
    """A consistent copy: taken while ``seq`` was even and the same before and after."""
    buf = _mapped(shm)
    live = buf.cast("Q")
    try:
        if live[0] != MAGIC or live[1] != PAGE_VERSION:
            raise RingError(f"telemetry page {shm.name}: not a version {PAGE_VERSION} page")
        for _ in range(_READ_TRIES):
            before = live[4]
            raw = buf.tobytes()
            if not before % 2 and live[4] == before:
                return _decode(raw, live[2], live[3])
            time.sleep(0.001)
    finally:
        live.release()
    raise RingError(f"telemetry page {shm.name}: the writer never finished an update")


def _decode(raw: bytes, cameras: int, publishers: int) -> dict[str, Any]:
    """The stats document (``pipeline.stats`` shape) of one copy of the page."""
    f = struct.unpack(f"<{len(raw) // 8}d", raw)
    counts = f[_BUCKETS:_BUCKETS + _H]
    bounds = [str(b) for b in LATENCY_BUCKETS] + ["+Inf"]
    cumulative = [sum(counts[:i + 1]) for i in range(_H)]
    doc: dict[str, Any] = {
        "pid": int(f[5]), "updated_mono": f[6],
        "inference_seconds": {"buckets": dict(zip(bounds, cumulative)), "sum": f[_SUM],
                              "count": cumulative[-1]},
        "outbox": _record(f, _OUTBOX, OUTBOX), "cameras": {}}
    doc["outbox"]["publishers"] = {}
    for i, (word, _) in enumerate(_name_slots(["?"] * cameras, ["?"] * publishers)):
        label = raw[word * 8:(word + _NAME_WORDS) * 8].rstrip(b"\0").decode(errors="replace")
        scope, fams = ((doc["cameras"], CAMERA) if i < cameras
                       else (doc["outbox"]["publishers"], PUBLISHER))
        scope[label] = _record(f, word + _NAME_WORDS, fams)
    return doc


def _record(f: Sequence[float], first: int, families: tuple[Family, ...]) -> dict[str, Any]:
    """``{key: value}`` of consecutive words; NaN (never written, or none) becomes None."""
    return {k: (None if math.isnan(v) else v)
            for k, v in zip(keys(families), f[first:first + len(families)])}
