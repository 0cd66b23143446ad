"""The arithmetic of ``benchmarks/scale.py``, kept free of processes and clocks so it is tested:
per-camera delivery and gap accounting, memory totals from ``smaps``, capacity estimates, and
the final JSON line.

Delivery is judged from ring-header snapshots polled every ~0.2 s (``write_seq``,
``last_frame_mono``, ``last_frame_wall``, ``producer_pid``):

* **share delivered** = frames committed between the first and last snapshot (``write_seq``
  delta) ÷ frames the stream holds in the capture-time span those frames cover (span × the
  mode's rate). Exact when nothing is lost, whatever the poll phase;
* **fell behind** = wall-clock span of the window − capture-time span: a pool that cannot keep
  up delivers every frame but later and later;
* **largest gap** between consecutive commits, from consecutive snapshots' ``last_frame_mono``
  (an upper bound, never an underestimate: it exceeds the true gap by at most one poll
  interval), plus the gap still open at the end of the window.

A camera passes when share ≥ 0.99, and its gap and its lag growth stay within its own frame
interval + 1 s.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CameraTrack", "Verdict", "judge", "GOALS", "goals_met", "private_and_proportional", "cpu_bound",
           "memory_bound", "REQUIRED_KEYS", "summary_line", "median_or_none", "ratio"]

MIN_SHARE = 0.99
GAP_SLACK_S = 1.0
CPU_HEADROOM = 0.85
RAM_HEADROOM = 0.8
MB = 1e6

REQUIRED_KEYS = (
    "decoder_uss_mb", "decoder_pss_mb", "cpu_per_camera_full", "bare_decode_cpu_per_camera",
    "capacity_ratio_full", "cameras_verified_full", "verified_delivery_min",
    "cpu_per_camera_keyframe", "cameras_estimate_keyframe", "cameras_verified_keyframe",
    "scrape_ms_200", "supervisor_cpu_per_camera",
)

# The goals for this box: key, comparison, bound (checked by ``goals_met``).
GOALS = (("decoder_uss_mb", "<=", 30.0), ("capacity_ratio_full", ">=", 0.8),
         ("verified_delivery_min", ">=", 0.99), ("cameras_estimate_keyframe", ">=", 300),
         ("cameras_verified_keyframe", ">=", 100), ("scrape_ms_200", "<=", 100.0))


def goals_met(doc: Mapping[str, Any]) -> dict[str, bool | None]:
    """Each goal's key -> met (None when the figure was not measured)."""
    out: dict[str, bool | None] = {}
    for key, op, bound in GOALS:
        value = doc.get(key)
        out[key] = None if value is None else (value <= bound if op == "<=" else value >= bound)
    return out


@dataclass
class CameraTrack:
    """One camera's ring-header snapshots during a measurement window."""

    camera_id: str
    first: tuple[int, float, float] | None = None     # write_seq, last mono, last wall
    last: tuple[int, float, float] | None = None
    start_mono: float = 0.0
    end_mono: float = 0.0
    max_gap_s: float = 0.0
    pids: set[int] = field(default_factory=set)

    def observe(self, seq: int, last_mono: float, last_wall: float, pid: int,
                now_mono: float) -> None:
        """Record one snapshot taken at ``now_mono``."""
        if self.first is None:
            self.first, self.start_mono = (seq, last_mono, last_wall), now_mono
        elif self.last is not None and seq > self.last[0] and self.last[1] > 0:
            self.max_gap_s = max(self.max_gap_s, last_mono - self.last[1])
        self.last, self.end_mono = (seq, last_mono, last_wall), now_mono
        if pid:
            self.pids.add(pid)

    @property
    def delivered(self) -> int:
        return self.last[0] - self.first[0] if self.first and self.last else 0

    def share(self, fps: float) -> float:
        """Frames delivered ÷ frames in the capture-time span they cover (1.0 = none lost)."""
        if not self.first or not self.last or self.first[2] <= 0:
            return 0.0
        expected = round((self.last[2] - self.first[2]) * fps)
        return self.delivered / expected if expected > 0 else 0.0

    def lag_growth_s(self) -> float:
        """How much further behind live the camera is at the end than at the start."""
        if not self.first or not self.last:
            return math.inf
        return (self.end_mono - self.start_mono) - (self.last[2] - self.first[2])

    def worst_gap_s(self) -> float:
        """The largest gap between commits, counting the one still open at the end."""
        if not self.last or self.last[1] <= 0:
            return math.inf
        return max(self.max_gap_s, self.end_mono - self.last[1])


@dataclass(frozen=True)
class Verdict:
    """Whether every camera of a run delivered, and the worst figures."""

    cameras: int
    passed: bool
    delivery_min: float
    gap_max_s: float
    lag_growth_max_s: float
    restarted: int
    failures: tuple[str, ...]


def judge(tracks: Sequence[CameraTrack], fps: float, expected_cameras: int) -> Verdict:
    """Apply the pass rule (module doc) to every camera of a run at ``fps`` frames/s kept."""
    interval = 1.0 / fps
    failures = [f"{expected_cameras - len(tracks)} cameras never delivered a frame"] \
        if len(tracks) < expected_cameras else []
    shares, gaps, lags = [], [], []
    for t in tracks:
        share, gap, lag = t.share(fps), t.worst_gap_s(), t.lag_growth_s()
        shares.append(share), gaps.append(gap), lags.append(lag)
        if share < MIN_SHARE:
            failures.append(f"{t.camera_id}: delivered {share:.1%} of its frames")
        if gap > interval + GAP_SLACK_S:
            failures.append(f"{t.camera_id}: {gap:.2f} s without a frame")
        if lag > interval + GAP_SLACK_S:
            failures.append(f"{t.camera_id}: fell {lag:.2f} s further behind live")
    restarted = sum(1 for t in tracks if len(t.pids) > 1)
    return Verdict(cameras=expected_cameras, passed=not failures and bool(tracks),
                   delivery_min=min(shares, default=0.0) if len(tracks) == expected_cameras
                   else 0.0, gap_max_s=max(gaps, default=math.inf),
                   lag_growth_max_s=max(lags, default=math.inf), restarted=restarted,
                   failures=tuple(failures))


def private_and_proportional(maps: Iterable[Any], exclude_prefix: str = "/dev/shm/"
                             ) -> tuple[int, int]:
    """(USS, PSS) bytes of a process from psutil's grouped ``memory_maps()``, without the
    mappings under ``exclude_prefix`` (the rings: counted once, as the ring's own size)."""
    uss = pss = 0
    for m in maps:
        if str(getattr(m, "path", "")).startswith(exclude_prefix):
            continue
        uss += int(m.private_clean) + int(m.private_dirty)
        pss += int(m.pss)
    return uss, pss


def cpu_bound(cores: float, cpu_per_camera: float | None) -> int | None:
    """Cameras a host holds by CPU: 0.85 × cores ÷ cores per camera."""
    if not cpu_per_camera or cpu_per_camera <= 0:
        return None
    return int(CPU_HEADROOM * cores / cpu_per_camera)


def memory_bound(ram_bytes: float, pss_bytes: float | None, ring_bytes: float) -> int | None:
    """Cameras a host holds by memory: 0.8 × RAM ÷ (decoder PSS + ring)."""
    if pss_bytes is None or pss_bytes + ring_bytes <= 0:
        return None
    return int(RAM_HEADROOM * ram_bytes / (pss_bytes + ring_bytes))


def median_or_none(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def ratio(numerator: float | None, denominator: float | None, digits: int = 2) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, digits)


def summary_line(modes: Mapping[str, Mapping[str, Any]], verify: Mapping[str, Any],
                 extra: Mapping[str, Any]) -> dict[str, Any]:
    """The last line's document: the required keys first (None when not measured: a
    verification that ran and failed reports 0 cameras verified), then the
    per-mode details and whatever ``extra`` adds (load, host, scrape figures)."""
    full, key = modes.get("full", {}), modes.get("keyframe", {})
    verdicts = [v for v in (verify.get("full"), verify.get("keyframe")) if v]
    doc: dict[str, Any] = {
        "decoder_uss_mb": full.get("decoder_uss_mb"),
        "decoder_pss_mb": full.get("decoder_pss_mb"),
        "cpu_per_camera_full": full.get("cpu_per_camera"),
        "bare_decode_cpu_per_camera": full.get("bare_cpu_per_camera"),
        "capacity_ratio_full": ratio(full.get("bare_cpu_per_camera"),
                                     full.get("cpu_per_camera")),
        "cameras_verified_full": (verify.get("full") or {}).get("cameras_verified"),
        "verified_delivery_min": min((v["delivery_min"] for v in verdicts), default=None),
        "cpu_per_camera_keyframe": key.get("cpu_per_camera"),
        # measured with >= 100 cameras when that verification ran, else at the small run
        "cameras_estimate_keyframe": ((verify.get("keyframe") or {}).get("cameras_estimate_at_scale")
                                      or key.get("cameras_estimate")),
        "cameras_verified_keyframe": (verify.get("keyframe") or {}).get("cameras_verified"),
        "scrape_ms_200": extra.get("scrape_ms_200"),
        "supervisor_cpu_per_camera": extra.get("supervisor_cpu_per_camera"),
    }
    doc["cameras_estimate_keyframe_small_run"] = key.get("cameras_estimate")
    doc["capacity_ratio_full_vs_paced"] = full.get("capacity_ratio_vs_paced")
    doc.update({k: v for k, v in extra.items() if k not in doc})
    doc["goals_met"] = goals_met(doc)
    doc["modes"], doc["verification"] = dict(modes), dict(verify)
    return doc
