"""Inference workers' stats files through the pool's collector: a file written by the real
writers (``pipeline.stats`` + the outbox's ``snapshot_stats``) becomes a Prometheus histogram and
typed per-camera and outbox counters; bad files are skipped without breaking the scrape."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, fields
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from kvs_pool.errors import PublishError
from kvs_pool.metrics import PoolCollector, WorkerView
from kvs_pool.pipeline.stats import CameraCounters, PipelineStats, write_json_atomic
from kvs_pool.publish import Outbox, OutboxParams
from kvs_pool.publish.base import Outcome
from kvs_pool.ring import RingStatus
from kvs_pool import telemetry

PUBLISHER = "jsonl:events"
LATENCIES = (0.003, 0.004, 0.015, 0.3, 3.0)


@dataclass
class StatsOnlyPool:
    """A PoolView with no cameras or workers: only its stats directory."""

    stats_dir: str | None
    pool: str = "stats-test"

    def workers(self) -> list[WorkerView]:
        return []

    def camera_ids(self) -> list[str]:
        return []

    def ring_status(self, camera_id: str) -> RingStatus | None:
        return None


def _scrape(stats_dir: str | None) -> dict:
    """``{family name: family}`` of one scrape through ``PoolCollector``."""
    registry = CollectorRegistry()
    registry.register(PoolCollector(StatsOnlyPool(stats_dir)))
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


def _write_worker_stats(tmp_path: Path, worker: str) -> Path:
    """The stats file as ``InferenceWorker.write_stats`` writes it."""
    stats = PipelineStats()
    front, yard = stats.camera("front"), stats.camera("yard")
    front.frames_processed, front.frames_skipped_motion, front.frames_missed = 18, 4, 93
    front.frames_torn, front.detections, front.events_start = 1, 7, 2
    front.events_end, front.presences_silenced, front.last_frame_ts = 1, 3, 1795538496.5
    yard.frames_processed = 5
    for seconds in LATENCIES:
        stats.inference.observe(seconds)
    doc = stats.to_dict(worker, "motion-mog2")
    doc["outbox"] = _outbox_stats(tmp_path)
    path = tmp_path / "stats" / f"{worker}.json"
    write_json_atomic(path, doc)
    return path


def test_histogram_from_the_real_writer(tmp_path) -> None:
    _write_worker_stats(tmp_path, "inference-motion")
    family = _scrape(str(tmp_path / "stats"))["kvs_pool_inference_seconds"]
    assert family.type == "histogram"
    buckets = {s.labels["le"]: s.value for s in family.samples
               if s.name == "kvs_pool_inference_seconds_bucket"}
    assert buckets == {"0.005": 2, "0.01": 2, "0.02": 3, "0.05": 3, "0.1": 3, "0.2": 3,
                       "0.5": 4, "1.0": 4, "2.5": 4, "+Inf": 5}
    worker = (("worker", "inference-motion"),)
    assert _values(family, "kvs_pool_inference_seconds_count") == {worker: 5}
    assert _values(family, "kvs_pool_inference_seconds_sum")[worker] == pytest.approx(
        sum(LATENCIES))


def test_camera_counters_carry_camera_id(tmp_path) -> None:
    _write_worker_stats(tmp_path, "inference-motion")
    families = _scrape(str(tmp_path / "stats"))

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


def test_outbox_counters_and_gauges(tmp_path) -> None:
    _write_worker_stats(tmp_path, "inference-motion")
    families = _scrape(str(tmp_path / "stats"))
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


def test_only_schema_families_are_exported(tmp_path) -> None:
    """No catch-all ``kvs_pool_worker_stat``: pid, update times and unknown keys stay out."""
    path = _write_worker_stats(tmp_path, "inference-motion")
    doc = json.loads(path.read_text())
    doc["gpu"] = {"memory_bytes": 1234}                     # a key a newer worker might add
    doc["cameras"]["front"]["frames_blurred"] = 6
    path.write_text(json.dumps(doc))
    families = _scrape(str(path.parent))
    assert "kvs_pool_worker_stat" not in families
    declared = {f.name for f in (*telemetry.CAMERA, *telemetry.OUTBOX, *telemetry.PUBLISHER,
                                 telemetry.INFERENCE_SECONDS)}
    exported = {name + ("_total" if family.type == "counter" else "")
                for name, family in families.items()
                if any(s.labels.get("worker") == "inference-motion" for s in family.samples)}
    assert exported == declared


def test_writers_use_the_schema_keys(tmp_path) -> None:
    assert tuple(f.name for f in fields(CameraCounters)) == telemetry.keys(telemetry.CAMERA)
    outbox = _outbox_stats(tmp_path)
    assert set(telemetry.keys(telemetry.OUTBOX)) <= set(outbox)
    assert set(outbox["publishers"][PUBLISHER]) == set(telemetry.keys(telemetry.PUBLISHER))


def test_bad_stats_files_are_skipped_and_the_scrape_works(tmp_path, caplog) -> None:
    good = _write_worker_stats(tmp_path, "inference-good")
    text = good.read_text()
    (good.parent / "inference-partial.json").write_text(text[: len(text) // 2])
    (good.parent / "inference-list.json").write_text("[1, 2, 3]")
    for worker, bucket, value in (("inference-notcumulative", "0.01", 0),
                                  ("inference-badbucket", "0.02", "many")):
        doc = json.loads(text)
        doc["inference_seconds"]["buckets"][bucket] = value
        (good.parent / f"{worker}.json").write_text(json.dumps(doc))
    with caplog.at_level(logging.DEBUG, logger="kvs_pool.metrics.worker_stats"):
        families = _scrape(str(good.parent))
    histogram_workers = {s.labels["worker"] for s in families["kvs_pool_inference_seconds"].samples}
    assert histogram_workers == {"inference-good"}
    processed = _values(families["kvs_pool_inference_frames_processed"])
    assert {dict(k)["worker"] for k in processed} == {
        "inference-good", "inference-notcumulative", "inference-badbucket"}
    for skipped in ("inference-partial.json", "inference-list.json", "inference-notcumulative",
                    "inference-badbucket"):
        assert skipped in caplog.text, skipped


def test_missing_stats_dir_and_missing_inf_bucket(tmp_path) -> None:
    assert _scrape(str(tmp_path / "nowhere"))["kvs_pool_inference_seconds"].samples == []
    assert _scrape(None)["kvs_pool_detections"].samples == []
    stats = tmp_path / "stats"
    stats.mkdir()
    (stats / "inference-old.json").write_text(json.dumps(
        {"inference_seconds": {"buckets": {"0.1": 1, "0.5": 3}, "sum": 0.9, "count": 4}}))
    family = _scrape(str(stats))["kvs_pool_inference_seconds"]
    buckets = {s.labels["le"]: s.value for s in family.samples if s.name.endswith("_bucket")}
    assert buckets == {"0.1": 1, "0.5": 3, "+Inf": 4}
