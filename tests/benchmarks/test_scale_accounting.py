"""The arithmetic of ``benchmarks/scale.py``: delivery and gap accounting, memory without the
rings, capacity estimates, the JSON keys, and the generated pool config (no processes, no
clocks: snapshots are handed in)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import scale_accounting as acc  # noqa: E402
import scale_runs  # noqa: E402


def feed(track: acc.CameraTrack, fps: float, seconds: float, poll: float = 0.2,
         lost: set[int] | None = None, stop_after: float | None = None,
         lag_per_s: float = 0.0) -> acc.CameraTrack:
    """Snapshots of a paced camera polled every ``poll`` s: frame k is captured at k / fps and
    committed then (+ a lag growing by ``lag_per_s``); ``lost`` frames are never committed."""
    lost = lost or set()
    wall0 = 1_700_000_000.0
    steps = int(seconds / poll) + 1
    for i in range(steps):
        now = 100.0 + i * poll
        committed = [k for k in range(int((now - 100.0) * fps) + 1) if k not in lost
                     and (stop_after is None or k / fps <= stop_after)]
        committed = [k for k in committed if 100.0 + k / fps * (1 + lag_per_s) <= now]
        if not committed:
            continue
        k = committed[-1]
        track.observe(len(committed), 100.0 + k / fps * (1 + lag_per_s), wall0 + k / fps, 42, now)
    return track


def test_a_camera_that_loses_nothing_delivers_everything_whatever_the_poll_phase() -> None:
    for fps in (25.0, 5.0, 0.5):
        track = feed(acc.CameraTrack("c"), fps, 30.0, poll=0.23)
        assert track.share(fps) == pytest.approx(1.0)
        verdict = acc.judge([track], fps, 1)
        assert verdict.passed, verdict.failures
        assert verdict.delivery_min == pytest.approx(1.0)


def test_lost_frames_lower_the_share_below_the_bar() -> None:
    track = feed(acc.CameraTrack("c"), 25.0, 20.0, lost=set(range(100, 110)))
    assert track.share(25.0) == pytest.approx(490 / 500, abs=0.003)
    verdict = acc.judge([track], 25.0, 1)
    assert not verdict.passed and "delivered" in verdict.failures[0]


def test_gap_is_never_underestimated_and_a_long_one_fails() -> None:
    lost = set(range(100, 140))  # 1.6 s of a 25 fps stream missing
    track = feed(acc.CameraTrack("c"), 25.0, 20.0, lost=lost)
    assert track.worst_gap_s() >= 41 / 25
    assert any("without a frame" in f for f in acc.judge([track], 25.0, 1).failures)
    short = feed(acc.CameraTrack("c"), 25.0, 20.0, lost=set(range(100, 110)))
    assert 11 / 25 <= short.worst_gap_s() <= 11 / 25 + 0.2 + 1e-9


def test_a_camera_that_stops_fails_on_the_gap_still_open() -> None:
    track = feed(acc.CameraTrack("c"), 25.0, 20.0, stop_after=15.0)
    assert track.share(25.0) == pytest.approx(1.0)
    assert track.worst_gap_s() == pytest.approx(5.0, abs=0.25)
    assert not acc.judge([track], 25.0, 1).passed


def test_a_camera_falling_behind_live_fails_although_no_frame_is_lost() -> None:
    track = feed(acc.CameraTrack("c"), 25.0, 30.0, lag_per_s=0.1)
    assert track.share(25.0) == pytest.approx(1.0, abs=0.01)
    assert track.lag_growth_s() > 2.0
    assert any("behind" in f for f in acc.judge([track], 25.0, 1).failures)


def test_missing_cameras_and_restarts_are_counted() -> None:
    good = feed(acc.CameraTrack("a"), 5.0, 10.0)
    verdict = acc.judge([good], 5.0, 3)
    assert not verdict.passed and verdict.delivery_min == 0.0
    assert "2 cameras never delivered" in verdict.failures[0]
    restarted = feed(acc.CameraTrack("b"), 5.0, 10.0)
    restarted.pids.add(43)
    assert acc.judge([good, restarted], 5.0, 2).restarted == 1


def test_memory_leaves_the_ring_mappings_out() -> None:
    maps = [SimpleNamespace(path="[heap]", private_clean=0, private_dirty=30_000_000,
                            pss=31_000_000),
            SimpleNamespace(path="/usr/lib/libav.so", private_clean=1_000_000, private_dirty=0,
                            pss=5_000_000),
            SimpleNamespace(path="/dev/shm/kvspool.site.cam", private_clean=0,
                            private_dirty=22_000_000, pss=11_000_000)]
    assert acc.private_and_proportional(maps) == (31_000_000, 36_000_000)


def test_capacity_arithmetic() -> None:
    assert acc.cpu_bound(2, 0.04) == 42          # 0.85 * 2 / 0.04 = 42.5
    assert acc.cpu_bound(2, None) is None and acc.cpu_bound(2, 0.0) is None
    ring = 22_200_000
    assert acc.memory_bound(24e9, 65e6, ring) == int(0.8 * 24e9 / (65e6 + ring))
    assert acc.memory_bound(24e9, None, ring) is None
    assert acc.ratio(0.04, 0.07) == 0.57 and acc.ratio(None, 0.07) is None


def test_summary_line_has_every_required_key_and_is_json() -> None:
    modes = {"full": {"decoder_uss_mb": 29.0, "decoder_pss_mb": 40.0, "cpu_per_camera": 0.05,
                      "bare_cpu_per_camera": 0.04},
             "keyframe": {"cpu_per_camera": 0.005, "cameras_estimate": 300}}
    verify = {"full": {"cameras_verified": 30, "delivery_min": 0.995},
              "keyframe": {"cameras_verified": 100, "delivery_min": 1.0}}
    doc = acc.summary_line(modes, verify, {"scrape_ms_200": 30.0,
                                           "supervisor_cpu_per_camera": 0.0002, "cores": 2})
    assert list(doc)[:len(acc.REQUIRED_KEYS)] == list(acc.REQUIRED_KEYS)
    assert doc["capacity_ratio_full"] == 0.8 and doc["verified_delivery_min"] == 0.995
    assert doc["cameras_verified_keyframe"] == 100 and doc["cores"] == 2
    assert json.loads(json.dumps(doc)) == doc
    empty = acc.summary_line({}, {}, {})
    assert set(acc.REQUIRED_KEYS) <= set(empty) and empty["cameras_verified_full"] is None
    assert empty["capacity_ratio_full"] is None and empty["verified_delivery_min"] is None


def test_generated_pool_config_is_a_valid_config(tmp_path: Path) -> None:
    plan = scale_runs.RunPlan(cameras=3, mode=scale_runs.Mode("keyframe", 0.5, 0.5),
                              window_s=1, settle_s=0, ready_timeout_s=1)
    text = scale_runs.pool_config("scaletest", str(tmp_path), plan, "http://127.0.0.1:4567",
                                  scale_runs.Media())
    path = tmp_path / "pool.yaml"
    path.write_text(text)
    from kvs_pool.config import load_config

    config = load_config(str(path), check_files=False)
    assert list(config.camera_ids) == ["cam-000", "cam-001", "cam-002"]
    assert all(c.target_fps == 0.5 for c in config.cameras)
    assert config.cameras[0].max_resolution == (1280, 720)


class FakeBench:
    """A ``scale.Bench`` whose runs pass up to ``limit`` cameras (no processes)."""

    def __init__(self, limit: int, quick: bool) -> None:
        self.args = SimpleNamespace(quick=quick)
        self.knobs = {"verify_window_s": 1.0}
        self.limit, self.tried = limit, []

    def fitting(self, n: int) -> int:
        return min(n, 500)

    def plan(self, n: int, mode, window_s: float):
        return n

    def run(self, n: int) -> dict:
        self.tried.append(n)
        ok = n <= self.limit
        return {"cameras": n, "passed": ok, "delivery_min": 1.0 if ok else 0.5,
                "gap_max_s": 0.3, "cpu_per_camera": 0.05, "supervisor_cpu_per_camera": 1e-4,
                "scrape_ms_median": 5.0, "cameras_delivering": n, "ready_s": 1.0}


@pytest.mark.parametrize("start, limit", [(20, 31), (40, 31), (31, 31), (10, 9)])
def test_full_mode_search_finds_the_largest_passing_count(start: int, limit: int) -> None:
    import scale

    bench = FakeBench(limit, quick=False)
    found = scale._search(bench, scale.MODES["full"], start, 1)
    assert found["cameras_verified"] <= limit
    assert found["cameras_verified"] > limit / 1.15 - 1   # within one step of the limit
    assert any(n > limit for n in bench.tried)             # a failure above it was seen
    assert found["delivery_min"] == 1.0


def test_quick_search_runs_once_and_reports_a_failure_as_zero_verified() -> None:
    import scale

    bench = FakeBench(50, quick=True)
    found = scale._search(bench, scale.MODES["keyframe"], 100, 100)
    assert bench.tried == [100]
    assert found["cameras_verified"] == 0 and found["delivery_min"] == 0.5


def test_goals_are_judged_on_the_summary() -> None:
    doc = {"decoder_uss_mb": 29.0, "capacity_ratio_full": 0.79, "verified_delivery_min": None,
           "cameras_estimate_keyframe": 300, "cameras_verified_keyframe": 0,
           "scrape_ms_200": 100.0}
    assert acc.goals_met(doc) == {"decoder_uss_mb": True, "capacity_ratio_full": False,
                                  "verified_delivery_min": None,
                                  "cameras_estimate_keyframe": True,
                                  "cameras_verified_keyframe": False, "scrape_ms_200": True}
    assert set(acc.summary_line({}, {}, {})["goals_met"]) == {k for k, _, _ in acc.GOALS}


def test_keyframe_estimate_prefers_the_run_with_100_cameras() -> None:
    """The small measuring run charges the pool's fixed costs to 3 cameras; the verification
    run with >= 100 cameras measures them spread, so its estimate is the capacity figure."""
    modes = {"keyframe": {"cpu_per_camera": 0.0057, "cameras_estimate": 298},
             "full": {"cpu_per_camera": 0.037, "bare_cpu_per_camera": 0.0257,
                      "capacity_ratio_vs_paced": 1.16}}
    verify = {"keyframe": {"cameras_verified": 100, "delivery_min": 1.0,
                           "cameras_estimate_at_scale": 447}}
    doc = acc.summary_line(modes, verify, {})
    assert doc["cameras_estimate_keyframe"] == 447
    assert doc["cameras_estimate_keyframe_small_run"] == 298
    assert doc["capacity_ratio_full_vs_paced"] == 1.16
    assert acc.summary_line(modes, {}, {})["cameras_estimate_keyframe"] == 298
