"""The status page in a real browser (headless Chromium) against the demo pool: every tile
shows a real frame of its camera, a tile opens a moving live view, events appear with their
snapshot (stored by an s3 publisher on moto's server, read back by the pool), tiles stack in
one column on a phone-sized window, and when the pool stops the page says it is unreachable.
Saves a screenshot as an artifact (in the test's directory, and in ``$KVS_POOL_TEST_ARTIFACTS``
when set)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import boto3
import numpy as np
import yaml
from awsworld import REGION, LocalMoto
from browser import chromium
from polling import wait_for
from pool_harness import PoolRun
from test_pool_demo import _demo_config as write_demo_config  # the demo, shrunk to 320x240

from kvs_pool.ring import RingReader

# Mean and spread of each channel of an <img>, drawn on a canvas (RGB, 0-255).
_IMAGE_STATS = """
const img = arguments[0];
if (!img || !img.complete || !img.naturalWidth) return null;
const c = document.createElement("canvas");
c.width = img.naturalWidth; c.height = img.naturalHeight;
const g = c.getContext("2d"); g.drawImage(img, 0, 0);
const d = g.getImageData(0, 0, c.width, c.height).data;
const n = d.length / 4, sum = [0, 0, 0], sq = [0, 0, 0];
for (let i = 0; i < d.length; i += 4) {
  for (let k = 0; k < 3; k++) { sum[k] += d[i + k]; sq[k] += d[i + k] * d[i + k]; }
}
return {w: c.width, h: c.height, mean: sum.map(s => s / n),
        std: sq.map((s, k) => Math.sqrt(s / n - (sum[k] / n) ** 2)),
        sig: Array.from(d.slice(0, 4096)).join(",")};
"""


def _ring_mean(pool: str, camera: str) -> np.ndarray:
    with RingReader.attach(pool, camera) as reader:
        frame = reader.latest()
        assert frame is not None
        bgr = frame.array.reshape(-1, 3).mean(axis=0)
    return bgr[::-1]  # RGB, as the canvas gives it


def _tile_image(driver, camera: str):
    return driver.find_element("css selector", f'article[data-camera="{camera}"] .thumb img')


def _shows_real_frame(driver, pool: str, camera: str) -> bool:
    """The tile exists, its image is decoded, not flat, and close to the ring's newest frame."""
    if not driver.find_elements("css selector", f'article[data-camera="{camera}"]'):
        return False  # the first status has not arrived yet
    stats = driver.execute_script(_IMAGE_STATS, _tile_image(driver, camera))
    if not stats or min(stats["std"]) < 5:
        return False
    return bool(np.abs(np.array(stats["mean"]) - _ring_mean(pool, camera)).max() < 20)


def _save(driver, tmp_path: Path) -> Path:
    shot = tmp_path / "status-page.png"
    driver.save_screenshot(str(shot))
    artifacts = os.environ.get("KVS_POOL_TEST_ARTIFACTS")
    if artifacts:
        os.makedirs(artifacts, exist_ok=True)
        shutil.copy(shot, artifacts)
    print(f"screenshot: {shot}")
    return shot


def _with_s3_snapshots(run: PoolRun, moto: LocalMoto) -> None:
    """Add an s3 publisher (moto) before the demo's jsonl one: events get snapshots."""
    boto3.client("s3", region_name=REGION, endpoint_url=moto.endpoint).create_bucket(Bucket="snaps")
    doc = yaml.safe_load(run.config_path.read_text())
    doc["pipelines"][0]["publishers"].insert(0, {"type": "s3", "bucket": "snaps",
                                                 "region": REGION, "endpoint_url": moto.endpoint})
    run.config_path.write_text(yaml.safe_dump(doc))


def test_status_page_in_a_real_browser(pool_run: PoolRun, moto: LocalMoto, tmp_path: Path) -> None:
    cameras = write_demo_config(pool_run)
    _with_s3_snapshots(pool_run, moto)
    pool_run.start()
    for cam in cameras:
        pool_run.wait_frames(cam, more_than=3, timeout=180)
    with chromium(tmp_path / "profile") as driver:
        driver.get(pool_run.metrics_url() + "/")
        for cam in cameras:
            wait_for(lambda: _shows_real_frame(driver, pool_run.pool, cam), 60,  # noqa: B023
                     f"tile {cam} to show a real frame of its camera", interval=0.5)
        wait_for(lambda: driver.find_elements("css selector", "#events li"), 180,
                 "an event in the events list", interval=1.0)
        wait_for(lambda: any(driver.execute_script(_IMAGE_STATS, img) for img in
                             driver.find_elements("css selector", "#events li img")), 30,
                 "an event's snapshot thumbnail (from S3) to load", interval=0.5)
        _save(driver, tmp_path)

        _tile_image(driver, "front").click()
        live = driver.find_element("id", "live-img")
        assert driver.find_element("id", "live").is_displayed()
        assert "/api/cameras/front/live.mjpeg" in live.get_attribute("src")
        first = wait_for(lambda: driver.execute_script(_IMAGE_STATS, live), 30,
                         "the first live frame", interval=0.2)
        wait_for(lambda: (driver.execute_script(_IMAGE_STATS, live) or first)["sig"]
                 != first["sig"], 30, "the live view to move", interval=0.2)
        driver.find_element("id", "live-close").click()
        assert not driver.find_element("id", "live").is_displayed()

        driver.set_window_size(400, 900)                  # a phone: one column of tiles
        wait_for(lambda: len({t.location["x"] for t in driver.find_elements(
            "css selector", "article.tile")}) == 1, 10, "one column on a phone-sized window")

        pool_run.assert_clean_exit()
        banner = driver.find_element("id", "offline")
        wait_for(banner.is_displayed, 30, "the page to say the pool is unreachable")
        assert banner.text.startswith("Pool unreachable")
