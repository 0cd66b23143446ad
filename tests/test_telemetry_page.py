"""The inference worker's shared-memory telemetry page: what the real stats writers produce comes
back through the page in the stats document's shape, the heartbeat is a CLOCK_MONOTONIC stamp,
a previous run's page is replaced, and a page that is not ours or not 0600 is refused."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from untrusted import UNTRUSTED, make_untrusted

from kvs_pool.errors import RingError, RingUntrustedError
from kvs_pool.pipeline.stats import PipelineStats
from kvs_pool.publish.stats import PublishStats
from kvs_pool.ring import sweep_stale
from kvs_pool.telemetry_page import TelemetryPage, page_name, read_page

WORKER = "inference-people"


@pytest.fixture
def page(pool_name: str) -> Iterator[TelemetryPage]:
    page = TelemetryPage.create(pool_name, WORKER, ["front", "yard"], ["jsonl:events"])
    try:
        yield page
    finally:
        page.close()


def _document() -> dict:
    """A stats document as the inference worker builds it from the real writers."""
    stats = PipelineStats()
    front = stats.camera("front")
    front.frames_processed, front.detections, front.events_start = 18, 7, 2
    front.last_frame_ts = 1795538496.5
    stats.camera("yard")
    for seconds in (0.003, 0.015, 0.3, 3.0):
        stats.inference.observe(seconds)
    outbox = PublishStats(["jsonl:events"])
    outbox.add("queued", 3)
    outbox.add("delivered", 2, "jsonl:events")
    doc = stats.to_dict(WORKER, "motion")
    doc["outbox"] = outbox.as_dict(depth=1, depth_bytes=120, oldest_undelivered_age_s=0.25)
    return doc


def test_the_page_carries_the_stats_document(pool_name: str, page: TelemetryPage) -> None:
    written = _document()
    page.publish(written)
    read = read_page(pool_name, WORKER)
    assert read is not None
    assert read["cameras"]["front"] == {k: (None if v is None else float(v))
                                        for k, v in written["cameras"]["front"].items()}
    assert read["cameras"]["yard"]["last_frame_ts"] is None     # never saw a frame
    assert read["inference_seconds"] == {k: v for k, v in written["inference_seconds"].items()}
    assert read["outbox"]["queued"] == 3 and read["outbox"]["depth_bytes"] == 120
    assert read["outbox"]["publishers"]["jsonl:events"]["delivered"] == 2
    assert read["pid"] == os.getpid()


def test_the_heartbeat_is_a_monotonic_stamp(pool_name: str, page: TelemetryPage) -> None:
    before = time.monotonic()
    page.publish(_document())
    beat = read_page(pool_name, WORKER)["updated_mono"]
    assert before <= beat <= time.monotonic()


def test_a_previous_runs_page_is_replaced_and_close_unlinks(pool_name: str) -> None:
    first = TelemetryPage.create(pool_name, WORKER, ["front"], [])
    first.publish(_document())                        # killed before its close, say
    second = TelemetryPage.create(pool_name, WORKER, ["yard"], [])
    try:
        second.publish(_document())
        assert list(read_page(pool_name, WORKER)["cameras"]) == ["yard"]
    finally:
        second.close()
        first.u.release(), first.f.release(), first.shm.close()
    assert read_page(pool_name, WORKER) is None
    assert not Path("/dev/shm", page_name(pool_name, WORKER)).exists()


@pytest.mark.parametrize("change", UNTRUSTED)
def test_a_page_not_ours_or_not_0600_is_refused(pool_name: str, page: TelemetryPage,
                                                change: str) -> None:
    page.publish(_document())
    path = Path("/dev/shm", page_name(pool_name, WORKER))
    make_untrusted(path, change)
    with pytest.raises(RingUntrustedError, match="refusing" if change == "mode 0644" else "uid"):
        read_page(pool_name, WORKER)


def test_a_killed_workers_page_is_swept_and_a_live_ones_kept(pool_name: str,
                                                             page: TelemetryPage) -> None:
    """The writer holds flock(LOCK_SH): the pool's start-up sweep leaves a live worker's page
    and removes one whose process is gone (here: its mapping closed without the unlink)."""
    assert sweep_stale(pool_name) == []
    gone = TelemetryPage.create(pool_name, "inference-gone", ["front"], [])
    gone.u.release(), gone.f.release(), gone.shm.close()      # no unlink: as if SIGKILLed
    assert sweep_stale(pool_name) == [page_name(pool_name, "inference-gone")]
    assert read_page(pool_name, WORKER) is not None


def test_a_reader_never_takes_a_half_written_page(pool_name: str, page: TelemetryPage) -> None:
    """Seqlock: while the writer's sequence word is odd (an update under way) no copy is
    returned; once it is even again the reader gets the numbers."""
    page.publish(_document())
    page.u[4] += 1                                  # the writer is mid-update
    with pytest.raises(RingError, match="never finished"):
        read_page(pool_name, WORKER)
    page.u[4] += 1
    assert read_page(pool_name, WORKER)["cameras"]["front"]["frames_processed"] == 18
