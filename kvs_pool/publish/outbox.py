"""The durable outbox: accept events on disk before anyone sees them, hand them out per publisher,
forget them once every publisher has them.

Why SQLite in WAL mode: it ships with Python, a committed transaction survives a kill -9 of the
process (and, with ``synchronous=FULL``, a power cut), one writer and readers in other threads
or processes work at once, and per-(event, publisher) bookkeeping is a small join rather than a
home-made log format. LMDB or a segment log would be faster, but events are rare (confirmed
detections, not frames) and the benchmark shows a write is a few milliseconds at most.

Schema (one file per inference worker, owned by one process at a time through ``flock`` on
``<path>.lock``; a killed owner releases it)::

    events   seq PK autoinc | event_id UNIQUE | camera_id | body (JSON) | snapshot BLOB
             | crop BLOB | size (bytes) | created_at (Unix s, survives restarts)
    pending  (publisher, seq) PK | stage | attempts | last_error

``emit`` inserts the event and one ``pending`` row per publisher in one transaction. A publisher
delivering an event deletes its row; an event with no row left is deleted (pruned). Re-emitting
an ``event_id`` already stored is a no-op, so the id stays stable across the pipeline's retries.

Bound: at most ``max_events`` undelivered events and ``max_bytes`` of them. When full, ``emit``
refuses the new event with ``PublishError`` (counted as ``refused``, logged as a WARNING naming
the outbox). Events already accepted are never dropped to make room: that would lose data the
pipeline was told was safe.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kvs_pool.errors import PublishError
from kvs_pool.private_files import private_dir, touch_private
from kvs_pool.publish.base import OutboxItem, Outcome
from kvs_pool.publish.stats import PublishStats

__all__ = ["OutboxParams", "Outbox"]

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    camera_id TEXT NOT NULL,
    body TEXT NOT NULL,
    snapshot BLOB,
    crop BLOB,
    size INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pending (
    publisher TEXT NOT NULL,
    seq INTEGER NOT NULL,
    stage INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    PRIMARY KEY (publisher, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pending_by_seq ON pending (seq);
"""

_REFUSAL_LOG_EVERY_S = 10.0


@dataclass(frozen=True)
class OutboxParams:
    """Where the outbox lives and how big it may grow."""

    path: Path
    max_events: int = 100_000
    max_bytes: int = 1 << 30
    synchronous: str = "FULL"      # FULL survives power loss; NORMAL survives kill -9 only
    busy_timeout_s: float = 30.0


class Outbox:
    """A durable event sink (``emit``) and the queue the ``PublisherLoop`` drains."""

    def __init__(self, params: OutboxParams, targets: Mapping[str, int]) -> None:
        """``targets`` maps each publisher name to its stage (see ``base.Publisher``)."""
        if not targets:
            raise PublishError(f"outbox {params.path}: no publisher configured")
        if params.synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise PublishError(f"outbox {params.path}: synchronous must be FULL, NORMAL or EXTRA")
        self.params = params
        self.path = Path(params.path)
        self.targets = dict(targets)
        self.stats = PublishStats(publishers=list(self.targets))
        self.wakeup = threading.Event()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._last_refusal_log = -_REFUSAL_LOG_EVERY_S
        self._lock_fd = self._take_ownership()
        self._depth, self._bytes = self._load_depth()
        self._warn_orphans()

    # -- ownership and connections -------------------------------------------------------------

    def _take_ownership(self) -> int:
        """Hold ``<path>.lock`` so two live processes never deliver from one outbox."""
        private_dir(self.path.parent)
        touch_private(self.path)  # 0600 before SQLite opens it: its -wal and -shm get its mode
        fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise PublishError(f"outbox {self.path} is in use by another live process") from None
        return fd

    def _db(self) -> sqlite3.Connection:
        """This thread's connection (sqlite3 connections are not shared across threads)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self.params.busy_timeout_s,
                                   isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.params.synchronous.upper()}")
            conn.executescript(_SCHEMA)
            self._local.conn = conn
        return conn

    def _load_depth(self) -> tuple[int, int]:
        row = self._db().execute("SELECT count(*), coalesce(sum(size), 0) FROM events").fetchone()
        if row[0]:
            log.info("outbox %s: %d undelivered events from a previous run", self.path, row[0])
        return int(row[0]), int(row[1])

    def _warn_orphans(self) -> None:
        """Rows for publishers no longer configured are kept (never dropped) and reported."""
        names = [r[0] for r in self._db().execute("SELECT DISTINCT publisher FROM pending")]
        orphans = sorted(set(names) - set(self.targets))
        if orphans:
            log.warning("outbox %s holds events for publishers no longer configured: %s; "
                        "they are kept until those publishers return", self.path, orphans)

    def close(self) -> None:
        """Close this thread's connection and release ownership; safe to call twice."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the sink ------------------------------------------------------------------------------

    def emit(self, event: Mapping[str, Any], snapshot: bytes | None = None,
             crop: bytes | None = None) -> None:
        """Store ``event`` durably (returns once committed); ``PublishError`` if full or invalid."""
        self.emit_all([(event, snapshot, crop)])

    def emit_all(self, items: Sequence[tuple[Mapping[str, Any], bytes | None, bytes | None]]
                 ) -> None:
        """Store every ``(event, snapshot, crop)`` in one transaction: all of them or, with
        ``PublishError`` (full, invalid, disk error), none."""
        rows = [self._row(event, snapshot, crop) for event, snapshot, crop in items]
        size = sum(row[3][2] for row in rows)
        with self._lock:
            self._check_room(size, len(rows))
            try:
                inserted = self._insert(rows)
            except sqlite3.Error as exc:   # disk full, read-only, corrupt file
                raise PublishError(f"outbox {self.path}: cannot store event {rows[0][0]}: "
                                   f"{exc}") from exc
            self._depth += len(inserted)
            self._bytes += sum(blob_size for blob_size in inserted)
        if inserted:
            self.stats.add("queued", len(inserted))
        self.wakeup.set()

    def _row(self, event: Mapping[str, Any], snapshot: bytes | None, crop: bytes | None
             ) -> tuple[str, str, str, tuple[bytes | None, bytes | None, int]]:
        """(event id, camera, JSON body, (snapshot, crop, size)) of one event to store."""
        event_id, camera_id = _identity(event, self.path)
        try:
            body = json.dumps(event, separators=(",", ":"), sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise PublishError(f"outbox {self.path}: event {event_id} is not JSON: {exc}") from None
        size = len(body) + len(snapshot or b"") + len(crop or b"")
        return event_id, camera_id, body, (snapshot, crop, size)

    def _check_room(self, size: int, count: int = 1) -> None:
        if (self._depth + count <= self.params.max_events
                and self._bytes + size <= self.params.max_bytes):
            return
        self.stats.add("refused", count)
        now = time.monotonic()
        if now - self._last_refusal_log >= _REFUSAL_LOG_EVERY_S:
            self._last_refusal_log = now
            log.warning("outbox %s full (%d events, %d bytes; bound %d events, %d bytes): "
                        "refusing new events (%d refused so far)", self.path, self._depth,
                        self._bytes, self.params.max_events, self.params.max_bytes,
                        self.stats.get("refused"))
        raise PublishError(f"outbox {self.path} is full ({self._depth} events): event refused")

    def _insert(self, rows: Sequence[tuple[str, str, str, tuple[bytes | None, bytes | None, int]]]
                ) -> list[int]:
        """Insert ``rows`` in one transaction; the sizes of those that were new (an id already
        stored is ignored: re-emitting an event is harmless)."""
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        inserted: list[int] = []
        try:
            for event_id, camera_id, body, (snapshot, crop, size) in rows:
                cur = db.execute(
                    "INSERT OR IGNORE INTO events (event_id, camera_id, body, snapshot, crop, size,"
                    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (event_id, camera_id, body, snapshot, crop, size, time.time()))
                if cur.rowcount:
                    db.executemany("INSERT INTO pending (publisher, seq, stage) VALUES (?, ?, ?)",
                                   [(n, cur.lastrowid, s) for n, s in self.targets.items()])
                    inserted.append(size)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return inserted

    # -- the queue -----------------------------------------------------------------------------

    def next_batch(self, publisher: str, limit: int,
                   blocked: Iterable[str] = ()) -> list[OutboxItem]:
        """Up to ``limit`` items for ``publisher``: per camera, a gap-free prefix in outbox order.

        Cameras in ``blocked`` are skipped entirely; a camera whose head still waits for an
        earlier-stage publisher contributes nothing from there on. A camera's prefix holds only
        events tried as often as its head: events that failed together (an outage) go out
        together, while events newer than a failing head wait behind it instead of overtaking.
        """
        stage = self.targets[publisher]
        skip = set(blocked)
        marks = ",".join("?" * len(skip))
        rows = self._db().execute(
            "SELECT p.seq, e.event_id, e.camera_id, e.body, e.snapshot, e.crop, p.attempts,"
            " (SELECT count(*) FROM pending q WHERE q.seq = p.seq AND q.stage < ?)"
            " FROM pending p JOIN events e ON e.seq = p.seq WHERE p.publisher = ?"
            + (f" AND e.camera_id NOT IN ({marks})" if skip else "")
            + " ORDER BY p.seq LIMIT ?", (stage, publisher, *skip, limit * 2)).fetchall()
        items: list[OutboxItem] = []
        head_attempts: dict[str, int] = {}
        for seq, event_id, camera, body, snap, crop, attempts, waiting in rows:
            if camera in skip:
                continue
            if waiting or attempts != head_attempts.setdefault(camera, attempts):
                skip.add(camera)
                continue
            items.append(OutboxItem(seq, event_id, camera, json.loads(body), snap, crop, attempts))
            if len(items) >= limit:
                break
        return items

    def record(self, publisher: str, outcomes: Sequence[Outcome]) -> None:
        """Apply a batch's outcomes: delete delivered (and rejected) rows, merge updates, count,
        prune."""
        done = [o for o in outcomes if o.ok]
        rejected = [o for o in outcomes if not o.ok and o.rejected]
        failed = [o for o in outcomes if not o.ok and not o.rejected]
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            self._apply_updates(db, done)
            db.executemany("DELETE FROM pending WHERE publisher = ? AND seq = ?",
                           [(publisher, o.seq) for o in done + rejected])
            db.executemany("UPDATE pending SET attempts = attempts + 1, last_error = ?"
                           " WHERE publisher = ? AND seq = ?",
                           [(o.error[:500], publisher, o.seq) for o in failed])
            pruned = self._prune(db, [o.seq for o in done + rejected])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.stats.add("delivered", len(done), publisher)
        self.stats.add("failures", len(failed), publisher)
        self.stats.add("rejected", len(rejected), publisher)
        with self._lock:
            self._depth -= pruned[0]
            self._bytes -= pruned[1]

    @staticmethod
    def _apply_updates(db: sqlite3.Connection, done: Sequence[Outcome]) -> None:
        for outcome in done:
            if not outcome.updates:
                continue
            row = db.execute("SELECT body FROM events WHERE seq = ?", (outcome.seq,)).fetchone()
            if row is not None:
                event = json.loads(row[0])
                event.update(outcome.updates)
                db.execute("UPDATE events SET body = ? WHERE seq = ?",
                           (json.dumps(event, separators=(",", ":"), sort_keys=True), outcome.seq))

    @staticmethod
    def _prune(db: sqlite3.Connection, seqs: Sequence[int]) -> tuple[int, int]:
        """Delete the given events if no publisher still needs them; (count, bytes) removed."""
        count = size = 0
        for seq in seqs:
            row = db.execute("DELETE FROM events WHERE seq = ? AND NOT EXISTS"
                             " (SELECT 1 FROM pending WHERE pending.seq = ?) RETURNING size",
                             (seq, seq)).fetchone()
            if row is not None:
                count, size = count + 1, size + row[0]
        return count, size

    # -- introspection -------------------------------------------------------------------------

    def depth(self) -> int:
        """Undelivered events (waiting for at least one publisher)."""
        with self._lock:
            return self._depth

    def oldest_age_s(self) -> float:
        """Seconds since the oldest undelivered event was accepted (0 when empty)."""
        row = self._db().execute("SELECT created_at FROM events ORDER BY seq LIMIT 1").fetchone()
        return max(0.0, time.time() - row[0]) if row else 0.0

    def snapshot_stats(self) -> dict[str, Any]:
        """Counters plus depth, bytes and oldest age, for the worker's stats JSON."""
        with self._lock:
            depth, size = self._depth, self._bytes
        return self.stats.as_dict(depth=depth, depth_bytes=size,
                                  oldest_undelivered_age_s=round(self.oldest_age_s(), 3))


def _identity(event: Mapping[str, Any], path: Path) -> tuple[str, str]:
    """The event's id and camera, or a ``PublishError`` naming what is missing."""
    event_id, camera_id = event.get("event_id"), event.get("camera_id")
    if not isinstance(event_id, str) or not event_id:
        raise PublishError(f"outbox {path}: event has no string 'event_id': {dict(event)!r:.200}")
    if not isinstance(camera_id, str) or not camera_id:
        raise PublishError(f"outbox {path}: event {event_id} has no string 'camera_id'")
    return event_id, camera_id
