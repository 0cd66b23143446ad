"""Events through the outbox and the three AWS publishers to moto's server over real HTTP:
shapes, an outage, partial put_records failures and throttling."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
from awsworld import FAST_LOOP, AwsWorld, FaultProxy, LocalMoto, make_event
from polling import wait_for

from kvs_pool.publish import Outbox, OutboxItem, open_outbox, render_snapshot
from kvs_pool.publish.dynamodb import sort_key_value

FRAME = np.full((240, 320, 3), 40, np.uint8)


def _per_camera(records: list[dict]) -> dict[str, list[int]]:
    order: dict[str, list[int]] = {}
    for rec in records:
        order.setdefault(rec["key"], []).append(rec["event"]["n"])
    return order


def _emit_then_drain(path: Path, publishers: list, events: list[dict]) -> Outbox:
    """Emit everything, then run the loop until the outbox is empty; the closed outbox."""
    outbox, loop = open_outbox(path, publishers, loop=FAST_LOOP)
    try:
        for event in events:
            outbox.emit(event)
        loop.start()
        wait_for(lambda: outbox.depth() == 0, what="outbox to drain")
    finally:
        loop.stop()
        outbox.close()
    return outbox


def test_events_arrive_in_all_three_services_with_their_shapes(world: AwsWorld, outbox_path):
    outbox, loop = open_outbox(outbox_path, world.publishers(), loop=FAST_LOOP)
    ts = datetime(2026, 9, 21, 13, 33, 20, 250000, tzinfo=UTC).timestamp()
    events = [make_event(cam, n, ts=ts + n) for n in range(3) for cam in ("cam-a", "cam-b")]
    loop.start()
    try:
        for event in events:
            outbox.emit(event, render_snapshot(FRAME, event))
        wait_for(lambda: outbox.depth() == 0, what="outbox to drain")
    finally:
        loop.stop()
        outbox.close()
    by_id = {e["event_id"]: e for e in events}

    keys = sorted(world.s3_keys())
    assert keys == sorted(f"snaps/{e['camera_id']}/2026/09/21/13/{e['event_id']}.jpg"
                          for e in events)
    head = world.client("s3").head_object(Bucket=world.bucket, Key=keys[0])
    assert head["ContentType"] == "image/jpeg"
    assert head["Metadata"]["event-id"] in by_id and head["Metadata"]["class"] == "person"
    body = world.client("s3").get_object(Bucket=world.bucket, Key=keys[0])["Body"].read()
    assert cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR).shape == FRAME.shape

    records = world.kinesis_records()
    assert sorted(r["event"]["event_id"] for r in records) == sorted(by_id)
    for rec in records:
        event = rec["event"]
        assert rec["key"] == event["camera_id"]
        key = f"snaps/{event['camera_id']}/2026/09/21/13/{event['event_id']}.jpg"
        assert event["snapshot_uri"] == f"s3://{world.bucket}/{key}"
        assert {k: v for k, v in event.items() if k != "snapshot_uri"} == by_id[event["event_id"]]

    items = world.dynamo_items()
    assert len(items) == len(events)
    for item in items:
        event = by_id[item["event_id"]["S"]]
        assert item["camera_id"]["S"] == event["camera_id"]
        assert item["ts_event"]["S"] == sort_key_value(event)
        assert item["ts_event"]["S"].startswith("2026-09-21T13:33:2")
        assert int(item["expires_at"]["N"]) == int(event["frame_ts"] + 7 * 86400)
        assert item["snapshot_uri"]["S"].startswith(f"s3://{world.bucket}/snaps/")
        assert float(item["score"]["N"]) == event["score"]


def test_outage_accumulates_then_everything_arrives_in_order_per_camera(
        world: AwsWorld, moto_server: LocalMoto, outbox_path):
    outbox, loop = open_outbox(outbox_path, world.publishers(), loop=FAST_LOOP)
    cameras = ("cam-a", "cam-b", "cam-c")
    loop.start()
    try:
        for cam in cameras:
            outbox.emit(make_event(cam, 0), b"\xff\xd8jpeg\xff\xd9")
        wait_for(lambda: outbox.depth() == 0, what="first events to drain")
        moto_server.stop()
        for n in range(1, 11):
            for cam in cameras:
                outbox.emit(make_event(cam, n), b"\xff\xd8jpeg\xff\xd9")
        stats = outbox.snapshot_stats()
        assert stats["depth"] == 30
        wait_for(lambda: outbox.stats.get("failures", "s3:" + world.bucket) >= 3,
                 what="failures while the server is down")
        time.sleep(1.0)
        assert outbox.depth() == 30, "nothing can be delivered while the server is down"
        assert outbox.snapshot_stats()["oldest_undelivered_age_s"] > 0.5
        moto_server.start()     # same port, same data: the outage is over
        wait_for(lambda: outbox.depth() == 0, timeout=90, what="backlog to drain")
    finally:
        loop.stop()
        outbox.close()
    order = _per_camera(world.kinesis_records())
    assert order == {cam: list(range(11)) for cam in cameras}
    assert len(world.s3_keys()) == 33 and len(world.dynamo_items()) == 33
    stats = outbox.snapshot_stats()
    assert stats["queued"] == 33 and stats["refused"] == 0 and stats["dropped"] == 0
    assert all(p["delivered"] == 33 for p in stats["publishers"].values())
    publishers = stats["publishers"]
    assert publishers[f"s3:{world.bucket}"]["retries"] > 0
    # S3 runs first: Kinesis and DynamoDB were not even tried until it had delivered
    assert publishers[f"kinesis:{world.stream}"]["failures"] == 0
    assert publishers[f"dynamodb:{world.table}"]["failures"] == 0


def test_partial_put_records_failure_retries_only_the_failed_records(
        world: AwsWorld, fault_proxy: FaultProxy, outbox_path):
    events = [make_event(cam, n) for n in range(8) for cam in ("cam-a", "cam-b")]
    failing = {events[1]["event_id"], events[6]["event_id"], events[11]["event_id"]}
    fault_proxy.fail_times = Counter(failing)
    outbox = _emit_then_drain(outbox_path, world.publishers(fault_proxy.endpoint), events)
    sent = fault_proxy.sent_counts()
    assert {i for i, c in sent.items() if c == 2} == failing
    assert all(sent[e["event_id"]] == 1 for e in events if e["event_id"] not in failing)
    arrived = Counter(r["event"]["event_id"] for r in world.kinesis_records())
    assert arrived == Counter(e["event_id"] for e in events)   # each exactly once
    kinesis = outbox.stats.as_dict()["publishers"][f"kinesis:{world.stream}"]
    assert kinesis == {"delivered": 16, "failures": 3, "retries": 3, "rejected": 0}


def test_throttled_put_records_backs_off_and_delivers(world: AwsWorld, fault_proxy: FaultProxy,
                                                      outbox_path):
    fault_proxy.throttle_calls = 4      # botocore retries some inside a call, the loop the rest
    events = [make_event("cam-a", n) for n in range(5)]
    outbox = _emit_then_drain(outbox_path, world.publishers(fault_proxy.endpoint), events)
    assert fault_proxy.throttle_calls == 0 and len(fault_proxy.attempts) == 5
    assert [r["event"]["n"] for r in world.kinesis_records()] == list(range(5))
    stats = outbox.stats.as_dict()["publishers"]
    assert stats[f"kinesis:{world.stream}"]["failures"] >= 5
    for other in (f"s3:{world.bucket}", f"dynamodb:{world.table}"):   # not sent again
        assert stats[other] == {"delivered": 5, "failures": 0, "retries": 0, "rejected": 0}
    assert len(world.dynamo_items()) == 5


def test_failed_head_blocks_only_its_own_camera(world: AwsWorld, fault_proxy: FaultProxy,
                                                outbox_path):
    head = make_event("cam-a", 0)
    fault_proxy.fail_times[head["event_id"]] = 4
    outbox, loop = open_outbox(outbox_path, world.publishers(fault_proxy.endpoint),
                                   loop=FAST_LOOP)
    kinesis = f"kinesis:{world.stream}"
    loop.start()
    try:
        outbox.emit(head)
        outbox.emit(make_event("cam-b", 0))
        wait_for(lambda: outbox.stats.get("failures", kinesis) >= 1, what="the head to fail")
        for n in range(1, 4):
            outbox.emit(make_event("cam-a", n))
            outbox.emit(make_event("cam-b", n))
        wait_for(lambda: outbox.depth() == 0, what="outbox to drain")
    finally:
        loop.stop()
        outbox.close()
    calls = fault_proxy.attempts
    head_ok = max(i for i, call in enumerate(calls) if head["event_id"] in call)
    before = {event_id for call in calls[:head_ok] for event_id in call}
    cam_a_later = {make_event("cam-a", n)["event_id"] for n in range(1, 4)}
    cam_b_later = {make_event("cam-b", n)["event_id"] for n in range(1, 4)}
    assert not before & cam_a_later, "cam-a's later events waited behind its failed head"
    assert cam_b_later <= before, "cam-b was not held up by cam-a"
    order = _per_camera(world.kinesis_records())
    assert order == {"cam-a": [0, 1, 2, 3], "cam-b": [0, 1, 2, 3]}


def test_dynamodb_retry_of_a_stored_event_neither_duplicates_nor_overwrites(world: AwsWorld):
    publisher = world.publishers()[2]
    event = make_event("cam-a", 0)
    first = publisher.publish([OutboxItem(1, event["event_id"], "cam-a", event)])
    retried = {**event, "score": 0.11}        # same id: what a retry after a crash looks like
    second = publisher.publish([OutboxItem(1, event["event_id"], "cam-a", retried)])
    assert first[0].ok and second[0].ok
    [item] = world.dynamo_items()
    assert float(item["score"]["N"]) == event["score"]
