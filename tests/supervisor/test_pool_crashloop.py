"""A camera whose URL is dead crash-loops with growing delays, reported in logs, metrics and
/healthz, while the healthy camera runs undisturbed."""

from __future__ import annotations

import re

from polling import wait_for
from pool_harness import dead_url
from prometheus_client.parser import text_string_to_metric_families


def _delays(run) -> list[float]:
    return [float(m.group(1)) for msg in run.warnings("decoder-dead")
            if (m := re.search(r"restart in ([\d.]+) s", msg))]


def test_dead_camera_backs_off_and_others_run(pool_run, live_camera) -> None:
    pool_run.write_config({"good": live_camera, "dead": dead_url()},
                          per_camera={"dead": {"max_consecutive_errors": 2}})
    pool_run.start()
    pool_run.wait_frames("good", timeout=120)
    good_pid = pool_run.decoder_pid("good")
    wait_for(lambda: len(_delays(pool_run)) >= 5, 150, "five restarts of the dead camera",
             interval=0.5)
    delays = _delays(pool_run)
    print(f"\nrestart delays of the dead camera: {delays}")
    assert delays[0] == 0.0  # the first restart is immediate
    for shorter, longer in zip(delays[1:], delays[3:]):  # x2 per step, jitter 80-120 %
        assert longer > shorter, delays
    assert max(delays) <= 4 * 1.2 + 0.05, delays
    assert any("crash-looping" in m for m in pool_run.warnings("decoder-dead"))
    samples = {}
    for family in text_string_to_metric_families(pool_run.scrape()[1]):
        for s in family.samples:
            samples[(s.name, s.labels.get("worker") or s.labels.get("camera_id"))] = s.value
    assert samples[("kvs_pool_worker_restarts_total", "decoder-dead")] >= 4
    assert samples[("kvs_pool_worker_restarts_total", "decoder-good")] == 0
    assert samples[("kvs_pool_worker_consecutive_failures", "decoder-dead")] >= 3
    code, body = pool_run.scrape("/healthz")
    assert code == 503 and '"dead"' in body and '"good"' not in body, body
    before = pool_run.frames("good")
    pool_run.wait_frames("good", more_than=before + 10, timeout=60)
    assert pool_run.decoder_pid("good") == good_pid
    pool_run.assert_clean_exit()
