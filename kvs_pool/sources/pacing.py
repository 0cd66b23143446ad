"""Release live frames at the stream's own rate instead of in bursts of one fragment.

HLS (KVS or plain HTTP) hands a source a whole fragment (1-2 s of video) at once; decoded and
committed in a few milliseconds, its frames lap a ring of 8 slots and then nothing comes for a
second. ``Pacer`` spaces them by their stream time ``t`` (seconds, e.g. the capture timestamp) on
the monotonic clock::

    due = anchor_mono + (t - anchor_t)      # anchor: when the first frame was released

Rules (``horizon`` is one fragment's duration):

* on time or early: sleep until ``due`` with ``SourceControl.wait`` (steps of at most
  ``progress_interval_s``, ``on_progress`` after each, so at least once a second; returns
  False at once when stopped);
* late by at most ``horizon`` (a slow fetch, a playlist poll just missed): catch up without a
  burst, at up to ``catch_up`` x the stream's rate (``CATCH_UP`` unless the source picks
  another), so the debt is gone within a few fragments and latency does not creep;
* late by more than ``horizon``, due more than ``2 x horizon`` ahead (a pts jump or a gap in
  the stream; one fragment plus the arrival jitter of the next is normal at a low target fps),
  or ``t`` not after the last frame: re-anchor at now. Pacing therefore adds at most about one
  fragment of latency and never sleeps to repay a debt.

The pacer sleeps *before* a frame is handed out, so the source decodes a frame, waits, then
fills the caller's buffer (a ring slot) just before yielding it: one decoded frame is held, never
a fragment's worth.
"""

from __future__ import annotations

import logging

from kvs_pool.sources.base import SourceControl

__all__ = ["Pacer", "CATCH_UP"]

log = logging.getLogger(__name__)

CATCH_UP = 2.0   # late frames go out at up to this multiple of the stream's rate


class Pacer:
    """Stream-time pacing of one source's frames (see the module docstring)."""

    def __init__(self, control: SourceControl, catch_up: float = CATCH_UP) -> None:
        if catch_up <= 1.0:
            raise ValueError(f"catch_up must be > 1 (got {catch_up})")
        self.control, self.catch_up = control, catch_up
        self._anchor: tuple[float, float] | None = None   # (stream t, monotonic time)
        self._last: tuple[float, float] | None = None     # last released (t, monotonic)
        self.reanchors = 0

    def reset(self) -> None:
        """Forget the timeline (a new connection, or frames delivered unpaced meanwhile)."""
        self._anchor = self._last = None

    def wait_for(self, t: float, horizon: float) -> bool:
        """Wait until the frame at stream time ``t`` is due; False if stopped meanwhile."""
        now = self.control.clock()
        due = self._due(t, now, horizon)
        if due is None:
            self._anchor = (t, now)
            self._last = (t, now)
            return not self.control.stopped()
        if not self.control.wait(due - now):   # steps <= 1 s, progress after each, stoppable
            return False
        self._last = (t, self.control.clock())
        return True

    def _due(self, t: float, now: float, horizon: float) -> float | None:
        """When frame ``t`` may go out; None: (re-)anchor at ``now`` instead."""
        if self._anchor is None or self._last is None or t <= self._last[0]:
            return None
        anchor_t, anchor_mono = self._anchor
        last_t, last_mono = self._last
        due = anchor_mono + (t - anchor_t)
        if now - due > horizon or due - now > 2 * horizon:
            self.reanchors += 1
            log.debug("re-anchoring pacing: frame due %+.3f s from now (horizon %.2f s)",
                      due - now, horizon)
            return None
        # late: catch up, but never faster than catch_up x the stream's rate
        return max(due, last_mono + (t - last_t) / self.catch_up)
