"""The shipped demo config end to end (shrunk to 320x240 on free ports): the supervisor starts
the embedded KVS emulator, decoders read it over the real KVS HLS protocol with the dummy
credentials the supervisor gives them (none of them maps onnxruntime, the inference worker
does), the inference worker's stats reach /metrics, and SIGINT (Ctrl-C) cleans up like
SIGTERM."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import yaml
from monitoring import exported_names, promtool, used_metric_names
from polling import wait_for

DEMO = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _demo_config(run) -> list[str]:
    doc = yaml.safe_load(DEMO.read_text())
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    doc["pool"].update(name=run.pool, state_dir=str(run.state_dir), metrics={"port": 0})
    doc["emulator"]["port"] = port
    for stream in doc["emulator"]["streams"]:
        stream.update(width=320, height=240, fps=10, gop=10)
    doc["defaults"]["max_resolution"] = [320, 240]
    for camera in doc["cameras"]:
        camera["source"]["kvs"]["endpoint_url"] = endpoint
    for pipeline in doc.get("pipelines", []):
        for publisher in pipeline.get("publishers", []):
            if "path" in publisher:
                publisher["path"] = str(run.dir / Path(publisher["path"]).name)
    run.config_path.write_text(yaml.safe_dump(doc))
    return [camera["id"] for camera in doc["cameras"]]


def test_demo_config_runs_end_to_end(pool_run) -> None:
    cameras = _demo_config(pool_run)
    pool_run.start()
    for cam in cameras:
        pool_run.wait_frames(cam, more_than=5, timeout=180)
    workers = {w["name"]: w for w in pool_run.state()["workers"]}
    assert all(w["up"] for w in workers.values()), workers
    assert any(name.startswith("inference-") for name in workers)
    # onnxruntime's library is loaded only to build a YOLO detector: never by a decoder, and
    # not by the demo's motion pipeline either
    onnx = {name: "onnxruntime" in Path(f"/proc/{w['pid']}/maps").read_text()
            for name, w in workers.items()}
    assert not any(onnx.values()), onnx
    wait_for(lambda: "kvs_pool_inference_seconds_count{" in pool_run.scrape()[1], 120,
             "the inference worker's latency histogram in /metrics", interval=1.0)
    wait_for(lambda: pool_run.scrape("/healthz")[0] == 200, 60, "a healthy pool", interval=0.5)
    _check_scrape(pool_run.scrape()[1])
    pool_run.assert_clean_exit(signal.SIGINT)


def _check_scrape(text: str) -> None:
    """The demo's /metrics passes ``promtool check metrics``, and every metric the shipped
    dashboard and alerts query exists in it."""
    missing = used_metric_names() - exported_names(text)
    assert not missing, f"deploy/ queries metrics the pool does not export: {sorted(missing)}"
    result = promtool("check", "metrics", stdin=text)
    if result is not None:
        assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr
