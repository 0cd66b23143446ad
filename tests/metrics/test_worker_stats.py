"""Inference workers' telemetry pages through the pool's collector: what the real writers put
there (``pipeline.stats`` + the outbox's ``snapshot_stats``) becomes a Prometheus histogram and
typed per-camera and outbox counters, and nothing else; a page that is not ours or not 0600 is
skipped without breaking the scrape."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from untrusted import UNTRUSTED, make_untrusted

from kvs_pool import telemetry
from kvs_pool.errors import PublishError
from kvs_pool.metrics import PoolCollector, WorkerView
from kvs_pool.pipeline.stats import CameraCounters, PipelineStats
from kvs_pool.publish import Outbox, OutboxParams
from kvs_pool.publish.base import Outcome
from kvs_pool.ring import RingStatus
from kvs_pool.telemetry_page import TelemetryPage, page_name

PUBLISHER = "jsonl:events"
LATENCIES = (0.003, 0.004, 0.015, 0.3, 3.0)


@dataclass
class StatsOnlyPool:
    """A PoolView with no cameras or workers: only its name (its telemetry pages)."""

    pool: str
    stats_dir: str | None = None

    def workers(self) -> list[WorkerView]:
        return []

    def camera_ids(self) -> list[str]:
        return []

    def ring_status(self, camera_id: str) -> RingStatus | None:
        return None


def _scrape(pool: str) -> dict:
    """``{family name: family}`` of one scrape through ``PoolCollector``."""
    registry = CollectorRegistry()
    registry.register(PoolCollector(StatsOnlyPool(pool)))
    text = generate_latest(registry).decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def _values(family, name: str | None = None) -> dict[tuple, float]:
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples
            if name is None or s.name == name}


def _outbox_stats(tmp_path: Path) -> dict:
    """Real outbox counters: 2 queued, 1 refused (full), 1 delivered, 1 failed, depth 1."""
    with Outbox(OutboxParams(tmp_path / "outbox.sqlite3", max_events=2), {PUBLISHER: 0}) as box:
        for n in range(3):
            try:
                box.emit({"event_id": f"e{n}", "camera_id": "front", "n": n})
            except PublishError:
                pass
        first, second = box.next_batch(PUBLISHER, 10)
        box.record(PUBLISHER, [Outcome(first.seq, True), Outcome(second.seq, False, "down")])
        return box.snapshot_stats()


@pytest.fixture
def pages(pool_name: str) -> Iterator[list[TelemetryPage]]:
    """Telemetry pages the test creates, closed (unlinked) at its end."""
    created: list[TelemetryPage] = []
    yield created
    for page in created:
        page.close()


def _write_worker_stats(tmp_path: Path, pool: str, worker: str, pages: list) -> Path:
    """The telemetry page as ``InferenceWorker.write_stats`` writes it; returns its path."""
    stats = PipelineStats()
    front, yard = stats.camera("front"), stats.camera("yard")
    front.frames_processed, front.frames_skipped_motion, front.frames_missed = 18, 4, 93
    front.frames_torn, front.detections, front.events_start = 1, 7, 2
    front.events_end, front.presences_silenced, front.last_frame_ts = 1, 3, 1795538496.5
    yard.frames_processed = 5
    for seconds in LATENCIES:
        stats.inference.observe(seconds)
    doc = stats.to_dict(worker, "motion-mog2")
    doc["outbox"] = _outbox_stats(tmp_path / worker)
    page = TelemetryPage.create(pool, worker, ["front", "yard"], [PUBLISHER])
    pages.append(page)
    page.publish(doc)
    return Path("/dev/shm", page_name(pool, worker))


def test_histogram_from_the_real_writer(tmp_path, pool_name, pages) -> None:
    _write_worker_stats(tmp_path, pool_name, "inference-motion", pages)
    family = _scrape(pool_name)["kvs_pool_inference_seconds"]
    assert family.type == "histogram"
    buckets = {s.labels["le"]: s.value for s in family.samples
               if s.name == "kvs_pool_inference_seconds_bucket"}
    assert buckets == {"0.005": 2, "0.01": 2, "0.02": 3, "0.05": 3, "0.1": 3, "0.2": 3,
                       "0.5": 4, "1.0": 4, "2.5": 4, "+Inf": 5}
    worker = (("worker", "inference-motion"),)
    assert _values(family, "kvs_pool_inference_seconds_count") == {worker: 5}
    assert _values(family, "kvs_pool_inference_seconds_sum")[worker] == pytest.approx(
        sum(LATENCIES))


def test_camera_counters_carry_camera_id(tmp_path, pool_name, pages) -> None:
    _write_worker_stats(tmp_path, pool_name, "inference-motion", pages)
    families = _scrape(pool_name)

    def front(name: str, **extra: str) -> float:
        labels = {"worker": "inference-motion", "camera_id": "front", **extra}
        return _values(families[name])[tuple(sorted(labels.items()))]

    expected = {"kvs_pool_inference_frames_processed": 18,
                "kvs_pool_inference_frames_skipped_motion": 4,
                "kvs_pool_inference_frames_missed": 93, "kvs_pool_inference_frames_torn": 1,
                "kvs_pool_detections": 7, "kvs_pool_presences_silenced": 3}
    for name, value in expected.items():
        assert families[name].type == "counter", name
        assert front(name) == value, name
    assert front("kvs_pool_events", type="start") == 2
    assert front("kvs_pool_events", type="end") == 1
    assert front("kvs_pool_inference_last_frame_timestamp_seconds") == 1795538496.5
    processed = _values(families["kvs_pool_inference_frames_processed"])
    assert processed[(("camera_id", "yard"), ("worker", "inference-motion"))] == 5
    # the yard never saw a frame: last_frame_ts is null, so no sample rather than a fake 0
    assert len(_values(families["kvs_pool_inference_last_frame_timestamp_seconds"])) == 1


def test_outbox_counters_and_gauges(tmp_path, pool_name, pages) -> None:
    _write_worker_stats(tmp_path, pool_name, "inference-motion", pages)
    families = _scrape(pool_name)
    worker = (("worker", "inference-motion"),)
    publisher = (("publisher", PUBLISHER), ("worker", "inference-motion"))
    for name, value in {"kvs_pool_outbox_events_queued": 2, "kvs_pool_outbox_events_refused": 1,
                        "kvs_pool_outbox_events_dropped": 0, "kvs_pool_outbox_depth": 1,
                        "kvs_pool_outbox_delivered": 1, "kvs_pool_outbox_failures": 1,
                        "kvs_pool_outbox_retries": 0}.items():
        key = publisher if name.endswith(("delivered", "failures", "retries")) else worker
        assert _values(families[name]) == {key: value}, name
    assert _values(families["kvs_pool_outbox_depth_bytes"])[worker] > 0
    assert _values(families["kvs_pool_outbox_oldest_undelivered_age_seconds"])[worker] >= 0
    assert families["kvs_pool_outbox_depth"].type == "gauge"
    assert families["kvs_pool_outbox_events_queued"].type == "counter"


def test_only_schema_families_are_exported(tmp_path, pool_name, pages) -> None:
    """No catch-all ``kvs_pool_worker_stat``: pid, update times and unknown keys stay out."""
    _write_worker_stats(tmp_path, pool_name, "inference-motion", pages)
    families = _scrape(pool_name)
    assert "kvs_pool_worker_stat" not in families
    declared = {f.name for f in (*telemetry.CAMERA, *telemetry.OUTBOX, *telemetry.PUBLISHER,
                                 telemetry.INFERENCE_SECONDS)}
    exported = {name + ("_total" if family.type == "counter" else "")
                for name, family in families.items()
                if any(s.labels.get("worker") == "inference-motion" for s in family.samples)}
    assert exported == declared


def test_writers_use_the_schema_keys(tmp_path, pool_name, pages) -> None:
    assert tuple(f.name for f in fields(CameraCounters)) == telemetry.keys(telemetry.CAMERA)
    outbox = _outbox_stats(tmp_path)
    assert set(telemetry.keys(telemetry.OUTBOX)) <= set(outbox)
    assert set(outbox["publishers"][PUBLISHER]) == set(telemetry.keys(telemetry.PUBLISHER))


@pytest.mark.parametrize("change", UNTRUSTED)
def test_an_untrusted_page_is_skipped_and_the_scrape_works(tmp_path, pool_name, pages, caplog,
                                                           change: str) -> None:
    _write_worker_stats(tmp_path, pool_name, "inference-good", pages)
    bad = _write_worker_stats(tmp_path, pool_name, "inference-bad", pages)
    make_untrusted(bad, change)
    with caplog.at_level(logging.WARNING, logger="kvs_pool.metrics.worker_stats"):
        families = _scrape(pool_name)
    workers = {s.labels["worker"] for s in families["kvs_pool_inference_seconds"].samples}
    assert workers == {"inference-good"}
    assert "inference-bad" in caplog.text and "refusing" in caplog.text


def test_no_pages_no_samples(pool_name) -> None:
    families = _scrape(pool_name)
    assert families["kvs_pool_inference_seconds"].samples == []
    assert families["kvs_pool_detections"].samples == []
