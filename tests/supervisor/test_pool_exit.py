"""Decoders that live longer than their stall limit and then exit on their own (their source
gave up after a connect outage) are reported with their own exit and backoff, never as hung:
a real pool, real decoders, real sources failing to connect."""

from __future__ import annotations

import re

from polling import wait_for
from pool_harness import dead_url

CAMERAS = [f"out{n}" for n in range(6)]


def _exits(run, camera: str) -> list[str]:
    return [msg for msg in run.warnings(f"decoder-{camera}") if "restart in" in msg]


def test_decoders_exiting_on_their_own_are_not_called_hung(pool_run) -> None:
    # each source retries 0.5 + 1 + 2 + 4 s (heart-beating while it waits), then gives up: it
    # outlives its 3 s stall limit (long enough for a spawn on a loaded machine to attach),
    # then exits 4 by itself
    pool_run.write_config({cam: dead_url() for cam in CAMERAS},
                          per_camera={cam: {"max_consecutive_errors": 5} for cam in CAMERAS},
                          stall={"heartbeat_timeout_s": 3})
    pool_run.start()
    wait_for(lambda: all(len(_exits(pool_run, cam)) >= 2 for cam in CAMERAS), 150,
             "two exits of every camera", interval=0.5)
    for cam in CAMERAS:
        warnings = pool_run.warnings(f"decoder-{cam}")
        assert not [m for m in warnings if "hung" in m], warnings
        for message in _exits(pool_run, cam):
            assert "gave up on its source" in message and "(exit 4)" in message, message
            lived = float(re.search(r"after ([\d.]+) s", message).group(1))
            assert lived > 3, message  # it did outlive its stall limit
    pool_run.assert_clean_exit()
