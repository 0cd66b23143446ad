"""Events of all instances meet in one Kinesis stream: three `kvs-pool run --shard I/3` over
nine emulator cameras (a moving box: motion detections), one pipeline naming every camera,
publishing to one Kinesis stream in moto (served by the emulator). Each instance runs the
pipeline for its own cameras; the stream receives events of every camera, each event id once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
from instances import ENV, Instances, emulator, write_config
from polling import wait_for

CAMERAS = 9


def _records(kinesis: Any, stream: str) -> list[dict[str, Any]]:
    events = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=1000)
            events += [json.loads(record["Data"]) for record in page["Records"]]
            iterator = page.get("NextShardIterator") if page["Records"] else None
    return events


def test_events_of_every_shard_meet_in_one_stream(tmp_path: Path, sharded_pool: str,
                                                  monkeypatch: Any) -> None:
    with emulator(CAMERAS, moto=True) as emu:
        for key, value in ENV.items():
            monkeypatch.setenv(key, value)
        kinesis = boto3.client("kinesis", endpoint_url=emu.base_url, region_name="us-east-1")
        # moto's backends are process-wide: another test's "events" stream may exist already
        stream = f"events-{sharded_pool}"
        kinesis.create_stream(StreamName=stream, ShardCount=2)
        pipeline = {"name": "motion", "cameras": [f"c{i}" for i in range(CAMERAS)],
                    "motion_gate": {"enabled": False}, "detector": {"type": "motion"},
                    "confirm": {"hits": 2, "window": 4, "cooldown_s": 600},
                    "publishers": [{"type": "kinesis", "stream_name": stream}]}
        config = write_config(tmp_path / "pool.yaml", sharded_pool, emu.base_url, CAMERAS,
                              pipelines=[pipeline])
        with Instances(config, tmp_path) as pool:
            for index in range(3):
                pool.start(f"s{index}", "--shard", f"{index}/3")

            def every_camera() -> list[dict[str, Any]] | None:
                events = _records(kinesis, stream)
                return events if {e["camera_id"] for e in events} >= set(pipeline["cameras"]) \
                    else None
            events = wait_for(every_camera, 180, "events of all nine cameras", interval=1.0)
            for index in range(3):
                assert pool.stop(f"s{index}") == 0, pool.log(f"s{index}")
        events = _records(kinesis, stream)
    ids = [event["event_id"] for event in events]
    assert len(ids) == len(set(ids)), "an event id arrived twice"
    starts = [e["camera_id"] for e in events if e["type"] == "start"]
    assert sorted(starts) == sorted(set(starts)), "a camera's presence started twice"
