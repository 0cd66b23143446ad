"""Pipeline counters, the latency histogram and the atomic stats file."""

from __future__ import annotations

import json
from pathlib import Path

from kvs_pool.pipeline.stats import LatencyHistogram, PipelineStats, write_json_atomic


def test_histogram_buckets_are_cumulative() -> None:
    hist = LatencyHistogram()
    for seconds in (0.004, 0.03, 0.03, 3.0):
        hist.observe(seconds)
    doc = hist.to_dict()
    assert doc["count"] == 4 and doc["sum"] == 3.064
    assert doc["buckets"]["0.005"] == 1 and doc["buckets"]["0.02"] == 1
    assert doc["buckets"]["0.05"] == 3 and doc["buckets"]["2.5"] == 3 and doc["buckets"]["+Inf"] == 4


def test_stats_file_is_replaced_whole(tmp_path: Path) -> None:
    stats = PipelineStats()
    stats.camera("cam1").frames_processed = 7
    path = tmp_path / "stats" / "inference-people.json"
    write_json_atomic(path, stats.to_dict("inference-people", "yolov3-tiny"))
    write_json_atomic(path, stats.to_dict("inference-people", "yolov3-tiny"))
    doc = json.loads(path.read_text())
    assert doc["cameras"]["cam1"]["frames_processed"] == 7 and doc["model"] == "yolov3-tiny"
    assert [p.name for p in path.parent.iterdir()] == [path.name]      # no temp file left
