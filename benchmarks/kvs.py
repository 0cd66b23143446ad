"""End-to-end KVS benchmark: emulator publishes a fragment -> KVS HLS source (real boto3, HLS
fetch, PyAV decode) -> frame committed to a shared-memory ring; URL refresh gaps; decode CPU.

    python benchmarks/kvs.py [--quick] [--size 640x360] [--seconds 25] [--unpaced]

The emulator runs in a child process (its CPU is not counted) with a short session lifetime, so
the source refreshes its session URL several times during the run. This process runs the source
and a ``RingWriter`` (``read_frames(into=writer.loan)`` then ``commit``):

* ``fragment_to_ring_ms``: for each fragment, ring commit time of its first frame minus the
  time the emulator published the fragment (its duration elapsed). The first frame is the one
  whose capture timestamp equals the fragment's program date-time. Baseline: the fragment
  duration and the source's playlist poll interval (HLS latency is dominated by them).
* ``refresh_gap_ms_max``: the largest gap between two consecutive ring commits between which
  the source refreshed its URL; baselines: one fragment's duration (the bar: no gap longer than
  one fragment) and ``other_gap_ms_max``, the largest gap not spanning a refresh (frames come in
  bursts of one fragment, so gaps near one fragment are normal). ``capture_gap_ms_max`` is the
  largest step between consecutive capture timestamps (1000/fps when no frame was lost).
* ``cpu_ratio_vs_file``: this process's CPU per frame while reading live from the emulator,
  divided by CPU per frame of ``cv2.VideoCapture(file).read(buf)`` on the same media file.
* ``cpu_ratio_vs_paced_file``: the same live figure divided by the CPU per frame of that bare
  ``cv2`` decode run at the stream's cadence: each frame read into a loaned slot of a ring like
  the source's, committed, then a sleep until the next frame is due. A frame every 40 ms finds
  the caches cold (other processes run meanwhile, and 8 slots are larger than the cache), which
  the tight loop of ``cpu_ratio_vs_file`` never does: this is the cost of a bare decode that
  delivers frames live, and ``file_cadence_penalty`` (paced / tight) is what the cadence alone
  costs on this machine now. ``--unpaced`` runs the source with ``pace=False`` (each fragment's
  frames at once, as the tight loop): its own cost without the cadence's.

Ends with one JSON line. Figures are null (with a reason) when a part is missing.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import secrets
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

import numpy as np

from kvs_pool.emulator import EmulatorConfig, EmulatorServer, StreamSpec
from kvs_pool.emulator.media import synthetic_clip

CTX = mp.get_context("spawn")
STREAM = "bench-kvs"


def _serve(spec: StreamSpec, session_s: float, urls: Any, stop: Any) -> None:
    with EmulatorServer(EmulatorConfig(streams=(spec,), session_seconds=session_s)) as server:
        urls.put(server.base_url)
        stop.wait()


def _fragments(base_url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{base_url}/_emulator/state", timeout=30) as answer:
        return json.loads(answer.read())["streams"][STREAM]["fragments"]


@dataclass(frozen=True)
class Plan:
    """How long to read, the emulator's session lifetime, and whether the source paces."""

    seconds: float
    session_s: float
    pace: bool = True


def _run_source(base_url: str, spec: StreamSpec, plan: Plan) -> dict[str, Any]:
    """Source -> ring for ``plan.seconds``; per frame: capture ts, commit wall time; CPU used."""
    from kvs_pool.ring import RingGeometry, RingWriter, create_ring
    from kvs_pool.sources.kvs_hls import KVSHLSFrameSource

    pool = f"bench{secrets.token_hex(3)}"
    owner = create_ring(pool, "cam", RingGeometry(spec.width, spec.height, slots=8))
    writer = RingWriter.attach(pool, "cam")
    commits: list[tuple[float, float, int]] = []
    source = KVSHLSFrameSource("cam", STREAM, "us-east-1", endpoint_url=base_url, pace=plan.pace,
                               session_lifetime_s=plan.session_s,
                               refresh_margin_s=plan.session_s / 3)
    try:
        with source:
            frames = source.read_frames(into=writer.loan)
            next(frames)                                   # connected: start the clock
            cpu, deadline = time.process_time(), time.monotonic() + plan.seconds
            for _array, ts in frames:
                writer.commit(ts)
                commits.append((ts, time.time(), source.stats.url_refreshes))
                if time.monotonic() > deadline:
                    break
            cpu = time.process_time() - cpu
    finally:
        writer.close()
        owner.unlink()
    return {"commits": commits, "cpu_s": cpu, "refreshes": source.stats.url_refreshes,
            "reconnects": source.stats.reconnects, "read_errors": source.stats.read_errors}


def _latencies(commits: list[tuple[float, float, int]], fragments: list[dict[str, Any]]
               ) -> list[float]:
    """Commit time of each fragment's first frame minus the fragment's publication time."""
    first_commit: dict[int, float] = {}
    # The playlist's program date-time is the fragment start truncated to the millisecond.
    starts = {int(f["start_wall"] * 1000): f for f in fragments}
    for ts, committed, _ in commits:
        fragment = starts.get(round(ts * 1000))
        if fragment is not None and fragment["ordinal"] not in first_commit:
            first_commit[fragment["ordinal"]] = (committed - fragment["published_wall"]) * 1000
    return sorted(first_commit.values())


def _file_cpu_ms(spec: StreamSpec, path: str) -> float:
    """CPU ms per frame decoding the same media from a local file with cv2 into one buffer."""
    import cv2

    buf = np.empty((spec.height, spec.width, 3), np.uint8)
    cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    count, cpu = 0, time.process_time()
    while cap.read(buf)[0]:
        count += 1
    cpu = time.process_time() - cpu
    cap.release()
    return 1000 * cpu / max(count, 1)


def _paced_file_cpu_ms(spec: StreamSpec, path: str, frames: int) -> float:
    """CPU ms per frame of the same cv2 decode into the loaned slots of a ring, paced at the
    stream's rate (sleep until each frame is due), as a live source must deliver them."""
    import cv2

    from kvs_pool.ring import RingGeometry, RingWriter, create_ring

    pool = f"bench{secrets.token_hex(3)}"
    owner = create_ring(pool, "file", RingGeometry(spec.width, spec.height, slots=8))
    writer = RingWriter.attach(pool, "file")
    cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    count, cpu, due = 0, time.process_time(), time.monotonic()
    try:
        while count < frames and cap.read(writer.loan(spec.height, spec.width, 3))[0]:
            writer.commit(time.time())
            count += 1
            due += 1.0 / spec.fps
            time.sleep(max(0.0, due - time.monotonic()))
        cpu = time.process_time() - cpu
    finally:
        cap.release()
        writer.close()
        owner.unlink()
    return 1000 * cpu / max(count, 1)


def _cached_file(spec: StreamSpec) -> str:
    from kvs_pool.emulator.media import cache_dir

    synthetic_clip(spec.video_spec())                     # make sure it is encoded
    size = f"synth-{spec.width}x{spec.height}-"
    return str(max(cache_dir().glob(f"{size}*.mp4"), key=os.path.getmtime))


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(float(np.percentile(values, q)), 1)


def _gaps_ms(commits: list[tuple[float, float, int]]) -> tuple[float | None, float | None]:
    """Largest commit-to-commit gap spanning a URL refresh, and the largest one not spanning one."""
    across, other = [0.0], [0.0]
    for (_, wall_a, refresh_a), (_, wall_b, refresh_b) in zip(commits, commits[1:]):
        (across if refresh_b != refresh_a else other).append(1000 * (wall_b - wall_a))
    return (round(max(across), 1) if len(across) > 1 else None,
            round(max(other), 1) if len(other) > 1 else None)


def _report(spec: StreamSpec, run: dict[str, Any], fragments: list[dict[str, Any]],
            file_ms: tuple[float, float]) -> dict[str, Any]:
    commits = run["commits"]
    lat = _latencies(commits, fragments)
    caps = [t for t, _, _ in commits]
    across, other = _gaps_ms(commits)
    frames = len(commits)
    live_ms = 1000 * run["cpu_s"] / max(frames, 1)
    tight_ms, paced_ms = file_ms
    fragment_ms = 1000 * spec.gop / spec.fps
    return {
        "size": f"{spec.width}x{spec.height}", "fps": spec.fps, "fragment_ms": fragment_ms,
        "frames": frames, "fragments_measured": len(lat),
        "fragment_to_ring_ms_p50": _percentile(lat, 50),
        "fragment_to_ring_ms_p90": _percentile(lat, 90),
        "fragment_to_ring_ms_max": _percentile(lat, 100),
        "refresh_gap_ms_max": across, "other_gap_ms_max": other,
        "refresh_gap_vs_fragment": round(across / fragment_ms, 2) if across else None,
        "capture_gap_ms_max": round(1000 * max(np.diff(caps)), 1) if frames > 1 else None,
        "url_refreshes": run["refreshes"], "reconnects": run["reconnects"],
        "read_errors": run["read_errors"],
        "live_cpu_ms_per_frame": round(live_ms, 2), "file_cpu_ms_per_frame": round(tight_ms, 2),
        "cpu_ratio_vs_file": round(live_ms / tight_ms, 2) if tight_ms else None,
        "file_paced_cpu_ms_per_frame": round(paced_ms, 2),
        "cpu_ratio_vs_paced_file": round(live_ms / paced_ms, 2) if paced_ms else None,
        "file_cadence_penalty": round(paced_ms / tight_ms, 2) if tight_ms else None,
    }


def _print_human(doc: dict[str, Any]) -> None:
    print(f"{doc['size']} @ {doc['fps']} fps, fragments of {doc['fragment_ms']:.0f} ms, "
          f"{doc['frames']} frames, {doc['url_refreshes']} URL refreshes")
    print(f"fragment published -> first frame in ring: p50 {doc['fragment_to_ring_ms_p50']} ms, "
          f"p90 {doc['fragment_to_ring_ms_p90']} ms (baseline: fragment {doc['fragment_ms']:.0f} ms"
          f" + playlist poll 1000 ms)")
    print(f"largest gap between ring commits across a URL refresh: {doc['refresh_gap_ms_max']} ms"
          f" = {doc['refresh_gap_vs_fragment']} x fragment (baseline: largest gap without a "
          f"refresh {doc['other_gap_ms_max']} ms); capture step max "
          f"{doc['capture_gap_ms_max']} ms (1 frame = {1000 / doc['fps']:.0f} ms)")
    print(f"CPU per frame: live {doc['live_cpu_ms_per_frame']} ms vs file (cv2) "
          f"{doc['file_cpu_ms_per_frame']} ms -> ratio {doc['cpu_ratio_vs_file']}; vs file "
          f"(cv2) paced into a ring {doc['file_paced_cpu_ms_per_frame']} ms -> ratio "
          f"{doc['cpu_ratio_vs_paced_file']} (cadence alone: x{doc['file_cadence_penalty']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="640x360, 22 s live + 8 s paced file (under 60 s total)")
    parser.add_argument("--size", default=None, help="WxH (default 1280x720, quick 640x360)")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--unpaced", action="store_true",
                        help="the source delivers each fragment at once (pace=False): its own "
                             "cost without the cadence's, against the tight file loop")
    args = parser.parse_args()
    width, height = map(int, (args.size or ("640x360" if args.quick else "1280x720")).split("x"))
    plan = Plan(args.seconds or (22.0 if args.quick else 60.0), 6.0 if args.quick else 12.0,
                pace=not args.unpaced)
    spec = StreamSpec(STREAM, width=width, height=height, fps=25, gop=25, seconds=20)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "emulator")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "emulator")
    path = _cached_file(spec)
    urls, stop = CTX.Queue(), CTX.Event()
    server = CTX.Process(target=_serve, args=(spec, plan.session_s, urls, stop), daemon=True)
    server.start()
    try:
        base_url = urls.get(timeout=120)   # baselines run beside the emulator, as the source
        file_ms = (_file_cpu_ms(spec, path),
                   _paced_file_cpu_ms(spec, path, 200 if args.quick else 500))
        doc = _measure(base_url, spec, plan, file_ms)
    finally:
        stop.set()
        server.join(timeout=10)
    if "missing" not in doc:
        _print_human(doc)
    print(json.dumps(doc))


def _measure(base_url: str, spec: StreamSpec, plan: Plan, file_ms: tuple[float, float]
             ) -> dict[str, Any]:
    try:
        run = _run_source(base_url, spec, plan)
    except ImportError as exc:                             # source or ring not there yet
        return {"missing": str(exc), "fragment_to_ring_ms_p50": None,
                "refresh_gap_ms_max": None, "cpu_ratio_vs_file": None}
    return {**_report(spec, run, _fragments(base_url), file_ms), "paced": plan.pace}


if __name__ == "__main__":
    main()
