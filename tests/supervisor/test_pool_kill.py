"""A pool of 3 live cameras: kill -9 one decoder -> restarted at once, its consumer keeps
reading across the restart, the other cameras never stall; metrics parse and carry the six
metrics per camera; SIGTERM leaves no process and no segment."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from polling import wait_for
from prometheus_client.parser import text_string_to_metric_families

CONSUMER = str(Path(__file__).with_name("consumer.py"))
SIX = ("kvs_hls_reconnects", "kvs_hls_frames", "kvs_hls_url_refreshes", "kvs_hls_read_errors",
       "kvs_hls_last_frame_timestamp", "kvs_hls_connection_state")


class Watch(threading.Thread):
    """Samples the other cameras' write_seq; records the longest time each did not advance."""

    def __init__(self, run, cameras: list[str]) -> None:
        super().__init__(daemon=True)
        self.run_, self.cameras, self.done = run, cameras, threading.Event()
        self.longest = dict.fromkeys(cameras, 0.0)

    def run(self) -> None:
        last = {c: (self.run_.frames(c), time.monotonic()) for c in self.cameras}
        while not self.done.wait(0.1):
            now = time.monotonic()
            for cam in self.cameras:
                seq = self.run_.frames(cam)
                if seq != last[cam][0]:
                    last[cam] = (seq, now)
                self.longest[cam] = max(self.longest[cam], now - last[cam][1])


def _first_frame_of_new_decoder(run, camera: str, old_pid: int, before: int) -> bool:
    status = run.ring(camera)
    return bool(status and status.producer_pid not in (0, old_pid) and status.write_seq > before)


def test_kill9_decoder_restarts_and_nobody_else_notices(pool_run, live_camera) -> None:
    cams = ["cam0", "cam1", "cam2"]
    pool_run.write_config({c: live_camera for c in cams})
    pool_run.start()
    for cam in cams:
        pool_run.wait_frames(cam, timeout=120)
    consumer = subprocess.Popen([sys.executable, CONSUMER, pool_run.pool, "cam0"],
                                stdout=subprocess.PIPE, text=True)
    watch = Watch(pool_run, ["cam1", "cam2"])
    try:
        assert consumer.stdout.readline().strip() == "ready"
        pool_run.wait_frames("cam0", more_than=pool_run.frames("cam0") + 5)
        old = wait_for(lambda: pool_run.decoder_pid("cam0"), 30, "decoder pid of cam0")
        others = {c: pool_run.decoder_pid(c) for c in ("cam1", "cam2")}
        watch.start()
        before = pool_run.frames("cam0")
        killed = time.monotonic()
        os.kill(old, signal.SIGKILL)
        wait_for(lambda: _first_frame_of_new_decoder(pool_run, "cam0", old, before), 60,
                 "a frame from the restarted decoder", interval=0.01)
        print(f"\nkill -9 -> first frame from the new decoder: {time.monotonic() - killed:.2f} s")
        wait_for(lambda: (pool_run.worker("decoder-cam0") or {}).get("restarts") == 1, 30,
                 "the restart in the state file")
        assert any("killed by SIGKILL (maybe out of memory)" in m
                   for m in pool_run.warnings("decoder-cam0"))
        after = pool_run.frames("cam0")
        pool_run.wait_frames("cam0", more_than=after + 10)
        consumer.send_signal(signal.SIGTERM)
        out, _ = consumer.communicate(timeout=60)
        report = json.loads(out.strip().splitlines()[-1])
        assert report["last_seq"] > after > before >= report["first_seq"]
        assert report["pairs"] >= 5 and report["ordered"] >= 0.8 * report["pairs"], report
        watch.done.set()
        watch.join()
        assert {c: pool_run.decoder_pid(c) for c in others} == others
        # live HLS arrives in 1 s bursts; a stall would be many seconds
        assert max(watch.longest.values()) < 8.0, watch.longest
    finally:
        watch.done.set()
        consumer.kill()
        consumer.wait(30)
    _check_metrics(pool_run, cams)
    _check_status(pool_run, cams)
    pool_run.assert_clean_exit()


def _check_status(run, cams: list[str]) -> None:
    """`kvs-pool status CONFIG` from another process while the pool runs."""
    result = subprocess.run([sys.executable, "-m", "kvs_pool", "status", str(run.config_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:]}
    assert sorted(rows) == cams
    for cam in cams:
        state, fps, frames, restarts = rows[cam][1:5]
        assert state == "connected" and float(fps) > 0 and int(frames) > 0
        assert int(restarts) == (1 if cam == "cam0" else 0)


def _check_metrics(run, cams: list[str]) -> None:
    code, text = run.scrape()
    assert code == 200
    seen: dict[str, set] = {}
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            seen.setdefault(family.name, set()).add(sample.labels.get("camera_id"))
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    for name in SIX:
        assert seen.get(name, set()) >= set(cams), (name, seen.get(name))
    restarts = {k[1]: v for k, v in values.items() if k[0] == "kvs_pool_worker_restarts_total"}
    by_worker = {dict(labels)["worker"]: v for labels, v in restarts.items()}
    assert by_worker == {"decoder-cam0": 1, "decoder-cam1": 0, "decoder-cam2": 0}
    for cam in cams:
        assert values[("kvs_hls_connection_state", (("camera_id", cam),))] == 2
        assert values[("kvs_hls_frames_total", (("camera_id", cam),))] > 0
    assert re.search(r'kvs_pool_process_resident_memory_bytes\{worker="decoder-cam1"\}', text)
    code, body = run.scrape("/healthz")
    assert code == 200, body
