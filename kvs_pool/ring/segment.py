"""Create, attach, lock, unlink and sweep ring segments: the only code touching SharedMemory.

Ownership (CPython gh-82300, and what a killed owner or attacher does to a segment):

* Nobody is registered with Python 3.11's ``resource_tracker``, not even the owner. An attacher
  registered by ``SharedMemory()`` would have its tracker unlink the ring when it exits; a
  SIGKILLed owner's tracker would unlink rings still used by live decoders and consumers, which
  then stall on an orphaned mapping while a restarted pool creates a new segment of the same
  name. So ``SharedMemory`` is constructed with ``resource_tracker.register`` replaced by a no-op
  (as Frigate does) and unlinked with ``shm_unlink`` directly (``SharedMemory.unlink`` would ask
  the tracker to forget a name it never knew and print a KeyError traceback).
* What replaces the tracker: every live process holding a ring keeps ``flock(LOCK_SH)`` on it;
  ``sweep_stale(pool)`` unlinks the segments of a pool on which ``LOCK_EX|LOCK_NB`` succeeds,
  i.e. that no live process holds (the supervisor runs it at start).
* Mappings are kept open while any numpy view of them may exist: ``np.frombuffer`` pins the
  mmap, so ``close()`` raising BufferError means a caller still holds a frame; the mapping is then
  parked in ``_RETAINED`` for the life of the process instead of being unmapped under the view
  (which segfaults on the next access).
* Segments are created mode 0600, ``posix_fallocate``d (tmpfs overcommits: without it a full
  /dev/shm shows up later as SIGBUS in the writer) and prefaulted.

What is trusted in /dev/shm (a directory every local user may write; sticky, so only a file's
owner or root removes it): only a segment owned by our effective uid and of mode 0600, checked
with ``fstat`` on the descriptor we opened (no race with a rename). Anyone else could read and
alter every frame, or truncate the segment, which kills every process that maps it with SIGBUS
on its next access. ``open_segment`` refuses anything else with one line naming the file and its
owner. ``sweep_stale`` leaves files that are not ours alone (it could not probe or remove them;
the owner then refuses them). ``Mapping.truncated`` re-checks the size with ``fstat`` periodically:
a segment truncated under us (by our own uid, or root) is reported as an error before the next
access rather than as a SIGBUS, except within the re-check period.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import mmap
import os
import pwd
import shutil
import stat
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing import resource_tracker, shared_memory
from typing import TypeAlias

import numpy as np

from kvs_pool.errors import RingError, RingNotFoundError, RingSpaceError, RingUntrustedError
from kvs_pool.ring.layout import HEADER_SIZE, NAME_PREFIX, HeaderWord, SlotWord, validate_name

try:  # the C module SharedMemory itself uses; shm_unlink without the tracker round trip
    import _posixshmem  # type: ignore[import-not-found]  # CPython's private C module: no stub
except ImportError:  # pragma: no cover - non-POSIX
    _posixshmem = None

__all__ = ["SHM_DIR", "Image", "Mapping", "SlotViews", "create_segment", "open_segment", "unlink_segment",
           "remove_foreign", "foreign_reason", "sweep_stale", "segment_exists", "owner_name"]

log = logging.getLogger(__name__)

SHM_DIR = "/dev/shm"
_MADV_POPULATE_READ = 22   # Linux 5.14+; older kernels answer EINVAL and we skip it
_MADV_POPULATE_WRITE = 23
_TRACKER_LOCK = threading.Lock()
_RETAINED: list[shared_memory.SharedMemory] = []
_FUTEX_OFFSET = HeaderWord.FUTEX * 8  # the futex is the low 32 bits of its word (little-endian)


class _Segment(shared_memory.SharedMemory):
    """SharedMemory whose finaliser tolerates numpy views still alive (see module doc)."""

    def __del__(self) -> None:
        try:
            self.close()
        except BufferError:  # views alive: their export keeps the mmap mapped; fine
            pass


def _construct(name: str, create: bool, size: int = 0) -> shared_memory.SharedMemory:
    """SharedMemory that no resource tracker knows about (3.13+: ``track=False``)."""
    if sys.version_info >= (3, 13):
        return _Segment(name=name, create=create, size=size, track=False)
    with _untracked():
        return _Segment(name=name, create=create, size=size)


@contextmanager
def _untracked() -> Iterator[None]:
    """Construct SharedMemory without registering it with the resource tracker."""
    with _TRACKER_LOCK:
        original = resource_tracker.register
        resource_tracker.register = lambda name, rtype: None
        try:
            yield
        finally:
            resource_tracker.register = original


# CPython internals. SharedMemory keeps its descriptor and its mmap in private attributes that
# typeshed does not declare and that have no public accessor; we need the descriptor to flock and
# fstat the segment, and the mmap to madvise it. These two functions are the only readers.

def _fd(shm: shared_memory.SharedMemory) -> int:
    """The descriptor ``shm`` opened (-1 once it is closed)."""
    fd: int = shm._fd  # type: ignore[attr-defined]  # CPython private, not in typeshed
    return fd


def _mmap(shm: shared_memory.SharedMemory) -> mmap.mmap | None:
    """The mapping behind ``shm.buf`` (None once it is closed)."""
    mapped: mmap.mmap | None = shm._mmap  # type: ignore[attr-defined]  # CPython private, ditto
    return mapped


def _path(name: str) -> str:
    return os.path.join(SHM_DIR, name)


def segment_exists(name: str) -> bool:
    return os.path.exists(_path(name))


def _check_space(name: str, size: int) -> None:
    try:
        free = shutil.disk_usage(SHM_DIR).free
    except OSError:
        return
    if free < size:
        raise RingSpaceError(
            f"{SHM_DIR} has {free / 1e6:.1f} MB free but ring {name} needs {size / 1e6:.1f} MB: "
            f"enlarge {SHM_DIR} (docker: --shm-size), or lower ring_slots / max_resolution")


def create_segment(name: str, size: int) -> shared_memory.SharedMemory:
    """Create a 0600 segment of ``size`` bytes, allocated up front and prefaulted."""
    _check_space(name, size)
    try:
        shm = _construct(name, create=True, size=size)
    except FileExistsError:
        raise RingError(f"ring {name} already exists (created concurrently?)") from None
    fd = _fd(shm)
    fcntl.flock(fd, fcntl.LOCK_SH)  # at once: a concurrent sweep must not take it for stale
    try:
        os.fchmod(fd, 0o600)
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        _discard(shm)
        if exc.errno in (errno.ENOSPC, errno.ENOMEM, errno.EFBIG):
            raise RingSpaceError(
                f"{SHM_DIR} has not room for ring {name} ({size / 1e6:.1f} MB): enlarge "
                f"{SHM_DIR} (docker: --shm-size) or lower ring_slots / max_resolution") from exc
        raise RingError(f"cannot allocate ring {name}: {exc}") from exc
    _populate(shm, write=True)
    return shm


def _discard(shm: shared_memory.SharedMemory) -> None:
    try:
        shm.close()
    finally:
        unlink_segment(shm.name)


def owner_name(uid: int) -> str:
    """``user 'name' (uid N)``, or ``uid N`` for a uid without a passwd entry."""
    try:
        return f"user {pwd.getpwuid(uid).pw_name!r} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def untrusted_reason(st: os.stat_result) -> str | None:
    """Why a segment with this ``stat`` must not be used (None: ours and 0600)."""
    if st.st_uid != os.geteuid():
        return (f"belongs to {owner_name(st.st_uid)}, not to this process's "
                f"{owner_name(os.geteuid())}")
    if stat.S_IMODE(st.st_mode) != 0o600:
        return f"has mode {stat.S_IMODE(st.st_mode):04o}, not 0600 (other users could use it)"
    return None


def foreign_reason(name: str) -> str | None:
    """Why the file at ring ``name`` is not one we may use, from its ``lstat`` (None: it is)."""
    try:
        st = os.lstat(_path(name))
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return f"is not a regular file (owner {owner_name(st.st_uid)})"
    return untrusted_reason(st)


def open_segment(name: str, what: str) -> shared_memory.SharedMemory:
    """Attach an existing segment of ours (see module doc), untracked; ``what`` names it.

    Checked twice: ``lstat`` before opening (a clear message, nothing opened or mapped), then
    ``fstat`` of the descriptor opened (the file may have been replaced in between)."""
    reason = foreign_reason(name)
    if reason is None:
        shm = _open_existing(name, what)
        reason = untrusted_reason(os.fstat(_fd(shm)))
        if reason is None:
            return shm
        shm.close()
    raise RingUntrustedError(f"ring for {what} ({_path(name)}) {reason}: refusing it (run as the "
                             "pool's user; see the Security section of the operations guide)")


def _open_existing(name: str, what: str) -> shared_memory.SharedMemory:
    try:
        return _construct(name, create=False)
    except FileNotFoundError:
        raise RingNotFoundError(
            f"no ring for {what} ({_path(name)}): is the pool running and is the camera id "
            "in its config?") from None
    except PermissionError:
        raise RingUntrustedError(f"ring for {what} ({_path(name)}) {foreign_reason(name)}: "
                                 "run as the pool's user") from None
    except ValueError as exc:  # zero-size segment: created but not yet sized
        raise RingNotFoundError(f"ring for {what} is not ready yet ({exc})") from None


def remove_foreign(name: str, reason: str) -> None:
    """Unlink a segment we may not use; ``RingError`` naming it and its owner if we cannot."""
    try:
        unlink_segment(name)
    except PermissionError:
        try:
            who = owner_name(os.lstat(_path(name)).st_uid)
        except OSError:
            who = "another user"
        raise RingError(f"{_path(name)} is in the way ({reason}) and this process cannot remove "
                        f"it ({SHM_DIR} is sticky): {who} or root must remove it, or give the "
                        "pool another name") from None
    log.warning("removed %s: %s", _path(name), reason)


def unlink_segment(name: str) -> bool:
    """Remove the name from /dev/shm; True if it existed. Existing mappings stay valid."""
    try:
        if _posixshmem is not None:
            _posixshmem.shm_unlink("/" + name)
        else:  # pragma: no cover
            os.unlink(_path(name))
        return True
    except FileNotFoundError:
        return False


def _populate(shm: shared_memory.SharedMemory, write: bool) -> None:
    """Fault the whole mapping in now, so the first frames do not pay for page faults."""
    mapped = _mmap(shm)
    if mapped is None:  # closed meanwhile: nothing to fault in
        return
    advice = _MADV_POPULATE_WRITE if write else _MADV_POPULATE_READ
    try:
        mapped.madvise(advice)
        return
    except (OSError, AttributeError, ValueError):
        pass
    if write:  # older kernel: touch one byte per page
        pages = np.frombuffer(mapped, dtype=np.uint8)[::mmap.PAGESIZE]
        pages[:] = 0
        del pages


def sweep_stale(pool: str) -> list[str]:
    """Unlink the segments of ``pool`` that no live process holds; returns their names."""
    validate_name("pool name", pool)
    prefix = f"{NAME_PREFIX}.{pool}."
    try:
        entries = sorted(e for e in os.listdir(SHM_DIR) if e.startswith(prefix))
    except FileNotFoundError:
        return []
    swept = []
    for entry in entries:
        if _is_stale(entry) and _unlink_quietly(entry):
            swept.append(entry)
            log.warning("removed stale ring segment %s (no live process held it)", entry)
    return swept


def _unlink_quietly(name: str) -> bool:
    try:
        return unlink_segment(name)
    except OSError as exc:  # the owner (create_ring) reports what is in the way
        log.warning("cannot remove stale ring segment %s: %s", _path(name), exc.strerror)
        return False


def _is_stale(name: str) -> bool:
    """True for a segment of ours that no live process holds; files of others are not probed."""
    try:
        st = os.lstat(_path(name))
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
            log.warning("%s is not a ring of this pool's user (%s): left alone", _path(name),
                        owner_name(st.st_uid))
            return False
        fd = os.open(_path(name), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:  # gone meanwhile, or refused
        if not isinstance(exc, FileNotFoundError):
            log.warning("cannot probe ring segment %s: %s", _path(name), exc.strerror)
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # releases the probe lock


# The views a Mapping hands out (strings: memoryview is not subscriptable at run time in 3.11).
Image: TypeAlias = "np.ndarray[tuple[int, int, int], np.dtype[np.uint8]]"
"""A frame's pixels: an (height, width, channels) uint8 array, C-contiguous."""
SlotViews: TypeAlias = (
    "tuple[memoryview[int], memoryview[float], np.ndarray[tuple[int], np.dtype[np.uint8]]]")
"""One slot: its meta words as u64 and as f64 (``SlotWord`` indexes), and its pixel bytes."""


class Mapping:
    """An attached segment with word views of its header and slots, and pixel arrays.

    Header and slot-meta words are ``memoryview.cast`` views ('Q' u64, 'd' f64, 'I' for the
    futex word), not numpy arrays: indexing one is a short C path that stays cheap when the
    caches are cold, which is exactly the case for a reader just woken from FUTEX_WAIT (numpy
    scalar indexing there cost tens of µs of wake-up latency). Pixels are numpy arrays.
    ``readonly`` mappings hand out pixel views that cannot be made writable. The segment stays
    ``flock(LOCK_SH)``ed until ``close()`` so ``sweep_stale`` knows it is in use.
    """

    def __init__(self, shm: shared_memory.SharedMemory, readonly: bool) -> None:
        self.shm: shared_memory.SharedMemory | None = shm  # None once closed
        self.name = shm.name.lstrip("/")
        fd = _fd(shm)
        fcntl.flock(fd, fcntl.LOCK_SH)
        self.inode = os.fstat(fd).st_ino
        self.size = shm.size
        whole = shm.buf
        assert whole is not None  # a SharedMemory has its buffer from construction until close()
        buf = whole.toreadonly() if readonly else whole
        self._buf = buf
        self.hdr = buf[:HEADER_SIZE].cast("Q")
        self.hdr_f = buf[:HEADER_SIZE].cast("d")
        self.futex = buf[_FUTEX_OFFSET:_FUTEX_OFFSET + 4].cast("I")
        anchor = np.frombuffer(buf, dtype=np.uint8, count=1, offset=_FUTEX_OFFSET)
        self.futex_address = anchor.ctypes.data
        del anchor
        self.slots: list[SlotViews] = []

    def map_slots(self, count: int, slot_size: int, pixel_offset: int) -> None:
        """Build (meta u64, meta f64, pixels u8) views for each slot."""
        meta_bytes = SlotWord.WORDS * 8
        for i in range(count):
            base = HEADER_SIZE + i * slot_size
            meta = self._buf[base:base + meta_bytes].cast("Q")
            meta_f = self._buf[base:base + meta_bytes].cast("d")
            pixels = np.frombuffer(self._buf, dtype=np.uint8, count=slot_size - pixel_offset,
                                   offset=base + pixel_offset)
            self.slots.append((meta, meta_f, pixels))

    def populate(self, write: bool) -> None:
        if self.shm is not None:
            _populate(self.shm, write)

    def truncated(self) -> str | None:
        """``truncated to N bytes (it maps M)`` when the segment shrank under our mapping (any
        access past its end is a SIGBUS), else None."""
        shm = self.shm
        if shm is None:
            return None  # closed: its holder reports that
        try:
            size = os.fstat(_fd(shm)).st_size
        except OSError:
            return None  # closed meanwhile (its descriptor is -1 then)
        return f"truncated to {size} bytes (it maps {self.size})" if size < self.size else None

    def unlinked(self) -> bool:
        """True when our segment's name was unlinked or now names another segment."""
        try:
            return os.stat(_path(self.name)).st_ino != self.inode
        except FileNotFoundError:
            return True

    def close(self) -> None:
        """Drop our views and unmap; park the mapping if callers still hold frames.

        A closed mapping has ``shm`` None and no ``hdr``, ``hdr_f``, ``futex`` or slots."""
        shm, self.shm = self.shm, None
        if shm is None:
            return
        # Drop, not release(), our views: a Frame still holding its slot's meta view must keep
        # working (is_intact), and then keeps the mapping alive through it.
        buf = self._buf
        del self.hdr, self.hdr_f, self.futex, self._buf
        self.slots = []
        try:
            if buf is not shm.buf:
                buf.release()
            shm.close()
        except BufferError:
            log.debug("ring %s: frames still referenced; mapping kept until exit", self.name)
            _RETAINED.append(shm)
