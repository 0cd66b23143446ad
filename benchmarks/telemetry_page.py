"""Benchmark what one scrape pays per inference worker: reading its telemetry page, next to
reading and parsing the same numbers as a JSON stats file (what scrapes did before).

    python benchmarks/telemetry_page.py [--cameras 8] [--reads 5000]

Both sides hold the document the real writers make (``PipelineStats.to_dict`` plus outbox
counters, one publisher). Each round times ``--reads`` reads of each; the median of 5 rounds is
printed in microseconds per read, with the page's figure as a ratio to the JSON baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kvs_pool.pipeline.stats import PipelineStats, write_json_atomic
from kvs_pool.publish.stats import PublishStats
from kvs_pool.telemetry_page import TelemetryPage, read_page

WORKER = "inference-bench"


def _document(cameras: list[str]) -> dict[str, Any]:
    stats = PipelineStats()
    for n, camera in enumerate(cameras):
        stats.camera(camera).frames_processed = n
        stats.inference.observe(0.01 * (n + 1))
    doc = stats.to_dict(WORKER, "motion")
    doc["outbox"] = PublishStats(["log"]).as_dict(depth=0, depth_bytes=0,
                                                  oldest_undelivered_age_s=0.0)
    return doc


def _per_read_us(read: Callable[[], object], reads: int) -> float:
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(reads):
            read()
        rounds.append((time.perf_counter() - start) / reads * 1e6)
    return statistics.median(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--reads", type=int, default=5000)
    args = parser.parse_args()
    cameras = [f"cam{i}" for i in range(args.cameras)]
    doc, pool = _document(cameras), f"bench{os.getpid()}"
    page = TelemetryPage.create(pool, WORKER, cameras, ["log"])
    try:
        page.publish(doc)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{WORKER}.json"
            write_json_atomic(path, doc)
            baseline = _per_read_us(lambda: json.loads(path.read_bytes()), args.reads)
            candidate = _per_read_us(lambda: read_page(pool, WORKER), args.reads)
    finally:
        page.close()
    print(f"{args.cameras} cameras: JSON stats file {baseline:.1f} us/read (baseline), "
          f"telemetry page {candidate:.1f} us/read ({candidate / baseline:.2f}x)")


if __name__ == "__main__":
    main()
