"""Benchmark: what the status page and live views cost the pool, and how soon thumbnails show.

Runs the shipped 3-camera demo (configs/demo.yaml at its real sizes, on free ports) as a real
`kvs-pool run`, then measures, each phase the same length:

- baseline: no viewer;
- page: the status page open in headless Chromium (Debian's chromium + chromium-driver);
- mjpeg10: 10 clients reading ``live.mjpeg`` of one 1280x720 camera at full size;

and a second baseline at the end (the two are averaged). All the web work (HTTP threads, JPEG
encodes) runs in the supervisor process, so the extra cost of a phase is the supervisor's CPU
in it minus its baseline, in cores; the whole pool's CPU (supervisor + workers) is printed
beside it as the same-run reference. The viewers and the browser run outside the pool and are
not counted. ``first_thumbnail_ms`` is the median over fresh page loads of the time from the
page's script start to the first thumbnail drawn, next to the first ``/api/status`` answer.

    python benchmarks/status_page.py [--quick] [--seconds S]

Ends with one JSON line: page_cpu_share, mjpeg10_cpu_share, first_thumbnail_ms, and baselines.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,900")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(directory: Path) -> tuple[Path, int]:
    """The demo config on free ports with its state under ``directory``; (path, http port)."""
    doc = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    emu, http = _free_port(), _free_port()
    doc["pool"].update(name=f"bench{secrets.token_hex(3)}", state_dir=str(directory / "state"),
                       metrics={"host": "127.0.0.1", "port": http})
    doc["emulator"]["port"] = emu
    for camera in doc["cameras"]:
        camera["source"]["kvs"]["endpoint_url"] = f"http://127.0.0.1:{emu}"
    for pipe in doc.get("pipelines", []):
        for pub in pipe.get("publishers", []):
            if "path" in pub:
                pub["path"] = str(directory / "events.jsonl")
    path = directory / "pool.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path, http


@contextmanager
def running_pool(config: Path, port: int, log: Path) -> Iterator[psutil.Process]:
    """`kvs-pool run` until every camera has frames; SIGTERM (then SIGKILL) at the end."""
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "kvs_pool", "run", str(config)],
                                stdout=out, stderr=out, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not _all_cameras_have_frames(port):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"the demo pool did not start; see {log}")
            time.sleep(0.5)
        yield psutil.Process(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)


def _all_cameras_have_frames(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=5) as resp:
            cams = json.load(resp)["cameras"]
    except (OSError, ValueError):
        return False
    return bool(cams) and all(c.get("seq") for c in cams)


def _cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


def measure(sup: psutil.Process, seconds: float) -> dict[str, float]:
    """Cores used over ``seconds`` by the supervisor alone and by the whole pool."""
    procs = [sup, *sup.children(recursive=True)]
    before = {p.pid: _cpu(p) for p in procs}
    start = time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - start
    total = 0.0
    for p in procs:
        try:
            total += _cpu(p) - before[p.pid]
        except psutil.Error:
            pass
    return {"supervisor": (_cpu(sup) - before[sup.pid]) / wall, "pool": total / wall}


@contextmanager
def browser(profile: str) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(
        shutil.which("chromedriver") or "/usr/bin/chromedriver"))
    try:
        yield driver
    finally:
        driver.quit()


def first_thumbnail(driver: Any, url: str, loads: int) -> tuple[float, float]:
    """Median ms from script start to the first thumbnail, and to the first status answer."""
    thumbs, statuses = [], []
    for _ in range(loads):
        driver.get(url)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            got = driver.execute_script("return window.kvsPool")
            if got and got["firstThumbnailMs"] is not None:
                thumbs.append(got["firstThumbnailMs"])
                statuses.append(got["firstStatusMs"])
                break
            time.sleep(0.05)
    if not thumbs:
        raise SystemExit("no thumbnail within 30 s of loading the page")
    return statistics.median(thumbs), statistics.median(statuses)


class Viewers:
    """``count`` threads reading one camera's MJPEG stream as fast as it comes."""

    def __init__(self, url: str, count: int) -> None:
        self.stop, self.frames = threading.Event(), [0] * count
        self.threads = [threading.Thread(target=self._read, args=(url, i), daemon=True)
                        for i in range(count)]

    def __enter__(self) -> Viewers:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(15)

    def _read(self, url: str, index: int) -> None:
        with urllib.request.urlopen(url, timeout=30) as resp:
            while not self.stop.is_set():
                line = resp.readline()
                if not line:
                    return
                if line.startswith(b"X-Frame-Seq"):
                    self.frames[index] += 1


def run(seconds: float, loads: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="kvs-bench-web-") as tmp:
        directory = Path(tmp)
        config, port = write_config(directory)
        base = f"http://127.0.0.1:{port}"
        with running_pool(config, port, directory / "pool.log") as sup:
            time.sleep(2.0)  # let start-up work settle
            base1 = measure(sup, seconds)
            with browser(str(directory / "profile")) as driver:
                thumb_ms, status_ms = first_thumbnail(driver, base + "/", loads)
                page = measure(sup, seconds)
            with Viewers(base + "/api/cameras/front/live.mjpeg?fps=30", 10) as viewers:
                time.sleep(1.0)
                mjpeg = measure(sup, seconds)
                frames = sum(viewers.frames)
            base2 = measure(sup, seconds)
    baseline = {k: (base1[k] + base2[k]) / 2 for k in base1}
    return {"baseline": baseline, "page": page, "mjpeg": mjpeg, "thumb_ms": thumb_ms,
            "status_ms": status_ms, "mjpeg_frames_per_viewer_s": frames / 10 / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 s phases, 2 page loads")
    parser.add_argument("--seconds", type=float, help="length of each phase (default 20)")
    args = parser.parse_args()
    seconds = args.seconds or (8.0 if args.quick else 20.0)
    r = run(seconds, 2 if args.quick else 5)
    b = r["baseline"]
    page_extra = r["page"]["supervisor"] - b["supervisor"]
    mjpeg_extra = r["mjpeg"]["supervisor"] - b["supervisor"]
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; phases {seconds:g} s")
    print(f"baseline (no viewer): supervisor {b['supervisor']:.3f} cores, "
          f"whole pool {b['pool']:.3f}")
    for name, extra in (("page open", page_extra), ("10 MJPEG viewers", mjpeg_extra)):
        phase = r["page"] if name == "page open" else r["mjpeg"]
        print(f"{name}: supervisor +{extra:.3f} cores ({extra / b['pool']:.1%} of the pool's "
              f"baseline); whole pool {phase['pool']:.3f} vs {b['pool']:.3f}")
    print(f"MJPEG frames per viewer: {r['mjpeg_frames_per_viewer_s']:.1f}/s")
    print(f"first thumbnail {r['thumb_ms']:.0f} ms after the page's script starts "
          f"(first /api/status answer: {r['status_ms']:.0f} ms)")
    print(json.dumps({"page_cpu_share": round(page_extra, 4),
                      "mjpeg10_cpu_share": round(mjpeg_extra, 4),
                      "first_thumbnail_ms": round(r["thumb_ms"], 1),
                      "first_status_ms": round(r["status_ms"], 1),
                      "baseline_supervisor_cores": round(b["supervisor"], 4),
                      "baseline_pool_cores": round(b["pool"], 4),
                      "mjpeg_frames_per_viewer_s": round(r["mjpeg_frames_per_viewer_s"], 2),
                      "phase_s": seconds, "load1": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
    main()
