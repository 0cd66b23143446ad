"""A ring header read as the camera's present: once its writer is gone, the last connection
state and frame rate it left are history.

A decoder killed -9 (or one that crashed) never gets to write "disconnected": its header keeps
``connected`` and its last fps. Counters and timestamps stay true (they are totals and "when"),
but state and fps describe the present, so without a live writer they read disconnected and
0 fps. ``error`` stays: a decoder that gave up on its source leaves it on purpose.
"""

from __future__ import annotations

import dataclasses

from kvs_pool.ring import ConnectionState, RingStatus

__all__ = ["current"]


def current(status: RingStatus) -> RingStatus:
    """``status`` itself while its writer process lives; else disconnected (or error), 0 fps."""
    if status.producer_alive:
        return status
    state = (ConnectionState.ERROR if status.state == ConnectionState.ERROR
             else ConnectionState.DISCONNECTED)
    return dataclasses.replace(status, state=int(state), fps=0.0)
