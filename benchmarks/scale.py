"""How many cameras one host holds: N KVS cameras from the emulator, 1280x720 at 25 fps with a
2 s GOP, in three sampling modes, each against a bare decode of the same clip in the same run.

    python benchmarks/scale.py --quick          # within 180 s; figures to re-take quietly
    python benchmarks/scale.py                  # finds each mode's real maximum by running it
    python benchmarks/scale.py --cameras 6 --modes full --no-verify    # one small run
    python benchmarks/scale.py --quick --size 1920x1080                # another resolution
    python benchmarks/scale.py --max-cameras 60                        # bound the search

The emulator is a separate process (``kvs-pool emulate``): its CPU is printed, never counted.
Each mode (``full``: every frame; ``fps5``: ``target_fps: 5``; ``keyframe``: ``target_fps:
0.5``, the key-frame rate) runs a real pool (``kvs-pool run``) and reports:

* CPU per camera: decoders + supervisor, cores ÷ cameras (``benchmarks/scale_runs.py`` says
  how each process is found); private (USS) and proportional (PSS) memory per decoder with the
  ring mappings left out (the ring is counted once, as its size);
* capacity: CPU-bound = 0.85 × cores ÷ CPU per camera; memory-bound = 0.8 × RAM ÷ (PSS + ring);
* the same run's baseline, CPU per camera-second of a bare decode of the served clip doing
  the same job without the pool: ``cv2.VideoCapture(file).read(buf)`` of every frame (full);
  ``grab()`` every frame, ``retrieve(buf)`` one in five (fps5); PyAV with
  ``skip_frame="NONKEY"`` and one BGR conversion per key frame (keyframe). ratio = bare ÷ pool.
  A second full-rate baseline delivers the same frames at the stream's rate (``read(buf)``, then
  a sleep until the next frame is due), as a live decoder must: on a virtual machine the caches
  go cold between frames and the same decode costs more than in a tight loop
  (``capacity_ratio_full_vs_paced``).

Verification runs then check delivery (``benchmarks/scale_accounting.py``: every camera ≥ 99 %
of its frames, no gap over 1 s beyond its frame interval, not falling behind live) at the
full-rate estimate and with ≥ 100 cameras at the key-frame rate. ``--quick`` runs each once;
the full mode searches upwards from a pass (×1.15) or downwards from a failure (×0.85).

``scrape_ms_200``: a ``/metrics`` scrape served by ``MetricsServer`` with 200 rings present
(small ones: a scrape reads headers only) and 200 live worker processes (``sleep``) for the
per-process CPU/RSS samples; ``/healthz`` and ``kvs-pool status`` over the same 200 rings are
reported next to it. The last line is JSON (``scale_accounting.REQUIRED_KEYS`` first).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale_accounting import GOALS, cpu_bound, memory_bound, ratio, summary_line  # noqa: E402
from scale_runs import Media, Mode, RunPlan, emulator, measure  # noqa: E402

MODES = {"full": Mode("full", None, 25.0), "fps5": Mode("fps5", 5.0, 5.0),
         "keyframe": Mode("keyframe", 0.5, 0.5)}
KEYFRAME_VERIFY_MIN = 100
QUICK_BUDGET_S = 180.0
QUICK = {"measure_n": 3, "window_s": 10.0, "settle_s": 2.0, "verify_window_s": 12.0}
FULL = {"measure_n": 8, "window_s": 30.0, "settle_s": 10.0, "verify_window_s": 60.0}


# -- the same run's baselines -------------------------------------------------------------------
def _clip(media: Media, directory: str) -> Path:
    """The media the emulator serves each stream (its init segment and every fragment, as one
    fragmented MP4 file in ``directory``): the bare decode reads exactly these bytes."""
    from kvs_pool.emulator import StreamSpec
    from kvs_pool.emulator.media import synthetic_clip

    clip = synthetic_clip(StreamSpec("x", media.width, media.height, media.fps,
                                     media.gop).video_spec())
    path = Path(directory, "served.mp4")
    path.write_bytes(clip.init + b"".join(clip.fragments))
    return path


def _bare_cv2(path: Path, media: Media, keep_every: int) -> tuple[float, int]:
    """CPU s and frames of a cv2 pass: every frame decoded, one in ``keep_every`` converted."""
    import cv2
    import numpy as np

    buf = np.empty((media.height, media.width, 3), np.uint8)
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    n, cpu = 0, time.process_time()
    while cap.grab():
        if n % keep_every == 0:
            cap.retrieve(buf)
        n += 1
    cpu = time.process_time() - cpu
    cap.release()
    return cpu, n


def _bare_cv2_paced(path: Path, media: Media) -> tuple[float, int]:
    """CPU s and frames of a cv2 ``read(buf)`` of every frame, each delivered when due at the
    stream's rate (real time: one pass of the clip takes its length)."""
    import cv2
    import numpy as np

    buf = np.empty((media.height, media.width, 3), np.uint8)
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    n, cpu, start = 0, time.process_time(), time.monotonic()
    while cap.read(buf)[0]:
        n += 1
        time.sleep(max(0.0, start + n / media.fps - time.monotonic()))
    cpu = time.process_time() - cpu
    cap.release()
    return cpu, n


def _bare_keyframes(path: Path, media: Media) -> tuple[float, int]:
    """CPU s and frames spanned by a PyAV key-frame-only decode with one BGR conversion each."""
    import av

    cpu = time.process_time()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONKEY"
        keys = 0
        for frame in container.decode(stream):
            frame.to_ndarray(format="bgr24")
            keys += 1
    cpu = time.process_time() - cpu
    return cpu, keys * media.gop  # the clip is whole GOPs: each key frame stands for a GOP


def bare_baselines(media: Media, rounds: int) -> dict[str, float]:
    """Cores per camera of each mode's bare decode (median of ``rounds`` passes)."""
    with tempfile.TemporaryDirectory(prefix="kvs-scale-clip-") as tmp:
        return _bare_runs(_clip(media, tmp), media, rounds)


def _bare_runs(path: Path, media: Media, rounds: int) -> dict[str, float]:
    jobs = {"full": lambda: _bare_cv2(path, media, 1),
            "fps5": lambda: _bare_cv2(path, media, 5),
            "keyframe": lambda: _bare_keyframes(path, media),
            "full_paced": lambda: _bare_cv2_paced(path, media)}
    out = {}
    for name, job in jobs.items():
        per_second = []
        for _ in range(1 if name == "full_paced" else rounds):  # real time: one pass
            cpu, frames = job()
            per_second.append(cpu / (max(frames, 1) / media.fps))
        out[name] = round(statistics.median(per_second), 4)
    return out


# -- scrape with 200 rings ---------------------------------------------------------------------
def scrape_200(n: int = 200, scrapes: int = 15) -> dict[str, float]:
    """Median ms of /metrics, /healthz and ``kvs-pool status`` rows with ``n`` rings present."""
    from kvs_pool.metrics import MetricsServer, WorkerView
    from kvs_pool.metrics.status_doc import collect_rows
    from kvs_pool.pool.statefile import write_state
    from kvs_pool.ring import RingGeometry, create_ring

    name = f"scrape{os.getpid() % 100000}"
    state_dir = tempfile.mkdtemp(prefix="kvs-scale-state-")
    owners: dict[str, Any] = {}
    workers: list[subprocess.Popen] = []
    server = None
    try:
        for i in range(n):
            owners[f"cam-{i:03d}"] = create_ring(name, f"cam-{i:03d}", RingGeometry(64, 48, 3, 2))
            workers.append(subprocess.Popen(["sleep", "600"], stdout=subprocess.DEVNULL))
        views = tuple(WorkerView(name=f"decoder-{cam}", kind="decoder", camera_id=cam,
                                 pid=w.pid, up=True, restarts=0, failures=0, backoff_s=0.0)
                      for cam, w in zip(owners, workers))
        server = MetricsServer(_FakeArbiter(name, views, owners), "127.0.0.1", 0)
        server.start()
        url = server.url
        return {"scrape_ms_200": _timed(lambda: _get(url + "/metrics"), scrapes),
                "healthz_ms_200": _timed(lambda: _get(url + "/healthz"), scrapes),
                "status_ms_200": _timed(lambda: collect_rows(name, None, list(owners)),
                                        scrapes),
                "stall_check_ms_200": _timed(lambda: [o.status() for o in owners.values()],
                                             scrapes),
                "state_file_ms_200": _timed(lambda: write_state(state_dir, name, views, {}),
                                            scrapes)}
    finally:
        if server is not None:
            server.stop()
        for w in workers:
            w.kill()
            w.wait()
        for owner in owners.values():
            owner.unlink()
        shutil.rmtree(state_dir, ignore_errors=True)


class _FakeArbiter:
    """What the Arbiter hands the metrics server: its worker table and its ring owners."""

    def __init__(self, pool: str, views: tuple[Any, ...], owners: dict[str, Any]) -> None:
        self.pool, self.stats_dir, self._views, self._owners = pool, None, views, owners

    def workers(self) -> tuple[Any, ...]:
        return self._views

    def camera_ids(self) -> list[str]:
        return list(self._owners)

    def ring_status(self, camera_id: str) -> Any:
        return self._owners[camera_id].status()


def _get(url: str) -> None:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            answer.read()
    except urllib.error.HTTPError as exc:  # /healthz answers 503: sleeping decoders
        exc.read()


def _timed(fn: Any, times: int) -> float:
    fn()  # first call: imports, connections
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        fn()
        samples.append(1000 * (time.perf_counter() - start))
    return round(statistics.median(samples), 1)


# -- runs ---------------------------------------------------------------------------------------
class Bench:
    """The runs of one invocation, with the host's size and the baselines."""

    def __init__(self, args: argparse.Namespace, media: Media) -> None:
        self.args, self.media = args, media
        self.knobs = QUICK if args.quick else FULL
        self.cores = len(os.sched_getaffinity(0))
        self.ram = psutil.virtual_memory().total
        self.started = time.monotonic()
        self.bare: dict[str, float] = {}
        self.pss_mb: list[float] = []

    def plan(self, n: int, mode: Mode, window_s: float) -> RunPlan:
        ready = 30.0 + 0.6 * n
        if self.args.quick:  # what is left of the 180 s once the window and the stop are paid
            left = QUICK_BUDGET_S - self.elapsed() - window_s - self.knobs["settle_s"] - 10.0
            ready = min(ready, max(left, 15.0))
        return RunPlan(cameras=n, mode=mode, window_s=window_s, settle_s=self.knobs["settle_s"],
                       ready_timeout_s=min(ready, 600.0))

    def run(self, plan: RunPlan) -> dict[str, Any]:
        """One pool run with its own emulator of ``plan.cameras`` streams."""
        with emulator(self.media, plan.cameras) as (url, emu):
            result = measure(plan, url, self.media, emu)
        say(f"  {plan.mode.name} x{plan.cameras}: {result['cameras_delivering']} delivering "
            f"after {result['ready_s']} s (start-up {result['decoder_start_cpu_s']} CPU s per "
            f"decoder); {result['cpu_per_camera']} cores/camera "
            f"(decoders {result['decoder_cores']}, supervisor {result['supervisor_cores']}, "
            f"other {result['other_pool_cores']}; emulator {result['emulator_cores_not_counted']}"
            f" not counted), USS {result['decoder_uss_mb']} MB, PSS {result['decoder_pss_mb']} "
            f"MB, delivery min {result['delivery_min']}, gap max {result['gap_max_s']} s, "
            f"{'PASS' if result['passed'] else 'FAIL ' + '; '.join(result['failures'][:2])} "
            f"[{self.elapsed():.0f} s]")
        return result

    def figures(self, mode: Mode, run: dict[str, Any]) -> dict[str, Any]:
        """A mode's figures: the run's, the capacity estimates and the bare baseline."""
        per_cam = run["cpu_per_camera"]
        if run["decoder_pss_mb"] is not None:
            self.pss_mb.append(run["decoder_pss_mb"])
        by_cpu = cpu_bound(self.cores, per_cam)
        pss = run["decoder_pss_mb"]
        by_ram = memory_bound(self.ram, pss * 1e6 if pss is not None else None,
                              self.media.ring_bytes())
        bare = self.bare.get(mode.name)
        estimate = min((c for c in (by_cpu, by_ram) if c is not None), default=None)
        paced = self.bare.get(f"{mode.name}_paced")
        extra = {"bare_paced_cpu_per_camera": paced,
                 "capacity_ratio_vs_paced": ratio(paced, per_cam)} if paced else {}
        return {**run, "bare_cpu_per_camera": bare, "capacity_ratio": ratio(bare, per_cam),
                "cameras_cpu_bound": by_cpu, "cameras_memory_bound": by_ram,
                "cameras_estimate": estimate, **extra}

    def fitting(self, n: int) -> int:
        """``n``, or fewer: at most ``--max-cameras``, and only as many rings and decoders (the
        largest PSS measured so far, 120 MB before any) as fit in available memory and /dev/shm."""
        ring = self.media.ring_bytes()
        decoder = max(self.pss_mb, default=120.0) * 1e6
        room = min(psutil.virtual_memory().available * 0.9 / (ring + decoder),
                   psutil.disk_usage("/dev/shm").free * 0.9 / ring)
        room = min(room, self.args.max_cameras or room)
        if n > room:
            say(f"  {n} cameras exceed --max-cameras or would not fit in memory or /dev/shm "
                f"here: running {int(room)}")
        return max(1, min(n, int(room)))

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def say(text: str) -> None:
    print(text, flush=True)


def _search(bench: Bench, mode: Mode, start: int, floor: int) -> dict[str, Any]:
    """Verification at ``start`` cameras (≥ ``floor``); the full mode then walks up (×1.15)
    from a pass until a failure, or down (×0.85) from a failure until a pass."""
    window = bench.knobs["verify_window_s"]
    n = bench.fitting(max(start, floor))
    runs = {n: bench.run(bench.plan(n, mode, window))}
    up = runs[n]["passed"]
    while not bench.args.quick:
        nxt = bench.fitting(math.ceil(n * 1.15)) if up else max(floor, int(n * 0.85))
        if nxt in runs or nxt < 1:
            break
        n = nxt
        runs[n] = bench.run(bench.plan(n, mode, window))
        if runs[n]["passed"] != up:
            break
    passed = [r for r in runs.values() if r["passed"]]
    best = max(passed, key=lambda r: r["cameras"]) if passed else None
    shown = best or runs[n]
    return {"cameras_verified": best["cameras"] if best else 0,
            "tried": {str(k): r["passed"] for k, r in runs.items()},
            "cameras_delivering": shown["cameras_delivering"], "ready_s": shown["ready_s"],
            "delivery_min": shown["delivery_min"], "gap_max_s": shown["gap_max_s"],
            "cpu_per_camera": shown["cpu_per_camera"],
            "supervisor_cpu_per_camera": shown["supervisor_cpu_per_camera"],
            "scrape_ms_median": shown["scrape_ms_median"], "run": shown}


def measure_modes(bench: Bench, names: list[str]) -> dict[str, dict[str, Any]]:
    """Each mode's run at the measuring size."""
    modes = {}
    for name in names:
        n = bench.args.cameras or bench.knobs["measure_n"]
        modes[name] = bench.figures(MODES[name], bench.run(bench.plan(
            n, MODES[name], bench.knobs["window_s"])))
        _print_mode(modes[name])
    return modes


def _print_mode(m: dict[str, Any]) -> None:
    if m.get("bare_paced_cpu_per_camera"):
        say(f"{m['mode']}: vs a bare decode delivering at the stream's rate "
            f"{m['bare_paced_cpu_per_camera']} -> ratio {m['capacity_ratio_vs_paced']}")
    say(f"{m['mode']}: {m['cpu_per_camera']} cores per camera vs bare decode "
        f"{m['bare_cpu_per_camera']} -> ratio {m['capacity_ratio']} (bare / pool); "
        f"capacity CPU-bound {m['cameras_cpu_bound']}, memory-bound {m['cameras_memory_bound']}"
        f" -> estimate {m['cameras_estimate']}")


def verify(bench: Bench, modes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The verification runs: key-frame rate at ≥ 100 cameras first (in --quick it gets the
    larger share of the time budget), then full rate at its estimate (and 5 fps, full mode)."""
    out: dict[str, Any] = {}
    if "keyframe" in modes:
        start = modes["keyframe"].get("cameras_estimate") or KEYFRAME_VERIFY_MIN
        start = KEYFRAME_VERIFY_MIN if bench.args.quick else start
        out["keyframe"] = _search(bench, MODES["keyframe"], start, KEYFRAME_VERIFY_MIN)
    for name in ("full", "fps5") if not bench.args.quick else ("full",):
        if name in modes and modes[name].get("cameras_estimate"):
            out[name] = _search(bench, MODES[name], modes[name]["cameras_estimate"], 1)
    for name, verdict in out.items():
        verdict.update(_at_scale(bench, name, verdict["run"]))
    return out


def _at_scale(bench: Bench, name: str, run: dict[str, Any]) -> dict[str, Any]:
    """Capacity and ratios again from a verification run's own CPU and memory: measured with
    tens or hundreds of cameras, the pool's fixed costs (supervisor, templates) are spread as
    they will be in production, where the small measuring run charges them to a few cameras."""
    fig = bench.figures(MODES[name], dict(run))
    return {"cameras_estimate_at_scale": fig["cameras_estimate"],
            "capacity_ratio_at_scale": fig["capacity_ratio"],
            "capacity_ratio_vs_paced_at_scale": fig.get("capacity_ratio_vs_paced")}


def _largest_run(modes: dict[str, Any], verified: dict[str, Any]) -> dict[str, Any]:
    runs = [m for m in modes.values()] + [v["run"] for v in verified.values()]
    return max(runs, key=lambda r: r["cameras"], default={})


def _clean(value: Any) -> Any:
    """JSON has no infinity: unmeasured or never-happened figures become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run per step (within 180 s)")
    parser.add_argument("--cameras", type=int, default=None, help="cameras of the measuring runs")
    parser.add_argument("--modes", default="full,fps5,keyframe", type=lambda s: s.split(","))
    parser.add_argument("--no-verify", dest="verify", action="store_false")
    parser.add_argument("--size", default="1280x720", help="WxH of the streams (default 720p)")
    parser.add_argument("--max-cameras", type=int, default=None,
                        help="never run more cameras than this (verification and search)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanups (finally:)
    width, height = (int(v) for v in args.size.lower().split("x"))
    media = Media(width, height)
    bench = Bench(args, media)
    load = os.getloadavg()
    say(f"host: {bench.cores} cores, {bench.ram / 1e9:.1f} GB RAM, load {load[0]:.2f}; "
        f"media {media.width}x{media.height} @ {media.fps} fps, GOP {media.gop}")
    bench.bare = bare_baselines(media, 3 if args.quick else 5)
    say(f"bare decode, cores per camera: {bench.bare} [{bench.elapsed():.0f} s]")
    scrape = scrape_200()
    say(f"with 200 rings: /metrics {scrape['scrape_ms_200']} ms, /healthz "
        f"{scrape['healthz_ms_200']} ms, status rows {scrape['status_ms_200']} ms; the loop's "
        f"stall check {scrape['stall_check_ms_200']} ms per tick, state file "
        f"{scrape['state_file_ms_200']} ms per second "
        f"[{bench.elapsed():.0f} s]")
    modes = measure_modes(bench, [m for m in args.modes if m in MODES])
    verified = verify(bench, modes) if args.verify else {}
    largest = _largest_run(modes, verified)
    extra = {**scrape, "supervisor_cpu_per_camera": largest.get("supervisor_cpu_per_camera"),
             "supervisor_cameras": largest.get("cameras"), "cores": bench.cores,
             "ram_gb": round(bench.ram / 1e9, 1), "ring_mb": round(media.ring_bytes() / 1e6, 1),
             "load_start": round(load[0], 2), "load_end": round(os.getloadavg()[0], 2),
             "quick": args.quick, "elapsed_s": round(bench.elapsed(), 1)}
    doc = summary_line(modes, {k: {kk: vv for kk, vv in v.items() if kk != "run"}
                               for k, v in verified.items()}, extra)
    say("goals: " + ", ".join(f"{key} {doc[key]} (goal {op} {bound}: "
                              f"{ {True: 'met', False: 'NOT met', None: 'not measured'}[met]})"
                              for (key, op, bound), met in zip(GOALS, doc["goals_met"].values())))
    print(json.dumps(_clean(doc)))


if __name__ == "__main__":
    main()
