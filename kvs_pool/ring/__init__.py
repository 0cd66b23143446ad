"""Per-camera shared-memory frame rings: the only package that touches ``SharedMemory``.

The supervisor creates and unlinks rings (``create_ring``, ``RingOwner.unlink``,
``sweep_stale``); a decoder writes one (``RingWriter``); consumers read it zero-copy
(``RingReader``, or the friendlier ``kvs_pool.client``). Byte layout: ``ring/layout.py``.
"""

from kvs_pool.errors import RingError, RingLayoutError, RingNotFoundError, RingSpaceError
from kvs_pool.ring.header import RingStatus
from kvs_pool.ring.layout import LAYOUT_VERSION, ConnectionState, RingGeometry, segment_name, validate_name
from kvs_pool.ring.owner import RingOwner, create_ring
from kvs_pool.ring.peek import peek_status
from kvs_pool.ring.reader import Frame, FrameOverwrittenError, RingReader
from kvs_pool.ring.segment import sweep_stale
from kvs_pool.ring.writer import RingWriter

__all__ = [
    "LAYOUT_VERSION", "ConnectionState", "Frame", "FrameOverwrittenError", "RingError",
    "RingGeometry", "RingLayoutError", "RingNotFoundError", "RingOwner", "RingReader",
    "RingSpaceError", "RingStatus", "RingWriter", "create_ring", "peek_status", "segment_name",
    "sweep_stale", "validate_name",
]
