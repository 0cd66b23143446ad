"""The outbox on its own (JSON-lines publisher, no network): bound, idempotence, durability
across reopen, single ownership, bad events."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from awsworld import FAST_LOOP, make_event
from polling import wait_for

from kvs_pool.errors import PublishError
from kvs_pool.publish import JsonlParams, JsonlPublisher, Outbox, OutboxParams, open_outbox


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_full_outbox_refuses_counts_and_logs_then_recovers(tmp_path, outbox_path, caplog):
    sink = tmp_path / "events.jsonl"
    params = OutboxParams(outbox_path, max_events=5)
    outbox, loop = open_outbox(outbox_path, [JsonlPublisher(JsonlParams(sink))], params,
                                   FAST_LOOP)
    events = [make_event("cam-a", n) for n in range(8)]
    refused = 0
    with caplog.at_level(logging.WARNING, logger="kvs_pool.publish.outbox"):
        for event in events:
            try:
                outbox.emit(event)
            except PublishError as exc:
                refused += 1
                assert "full" in str(exc)
    assert refused == 3 and outbox.depth() == 5
    stats = outbox.snapshot_stats()
    assert stats["refused"] == 3 and stats["queued"] == 5 and stats["depth"] == 5
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and str(outbox_path) in warnings[0]
    loop.start()
    try:
        wait_for(lambda: outbox.depth() == 0, what="outbox to drain")
        outbox.emit(events[5])          # room again: accepted
        wait_for(lambda: outbox.depth() == 0, what="outbox to drain again")
    finally:
        loop.stop()
        outbox.close()
    assert [e["n"] for e in _lines(sink)] == [0, 1, 2, 3, 4, 5]


def test_byte_bound_refuses_large_snapshots(outbox_path, tmp_path):
    params = OutboxParams(outbox_path, max_bytes=10_000)
    with Outbox(params, {"jsonl:x": 1}) as outbox:
        outbox.emit(make_event("cam-a", 0), b"x" * 5000)
        with pytest.raises(PublishError):
            outbox.emit(make_event("cam-a", 1), b"x" * 5000)
        assert outbox.snapshot_stats()["depth_bytes"] < 10_000


def test_emit_is_durable_and_idempotent_across_reopen(outbox_path):
    event = make_event("cam-a", 0)
    with Outbox(OutboxParams(outbox_path), {"jsonl:x": 1}) as outbox:
        outbox.emit(event, b"jpeg-bytes")
        outbox.emit(event, b"jpeg-bytes")      # same id again: stored once
        assert outbox.depth() == 1 and outbox.stats.get("queued") == 1
    with Outbox(OutboxParams(outbox_path), {"jsonl:x": 1}) as outbox:
        assert outbox.depth() == 1
        [item] = outbox.next_batch("jsonl:x", 10)
        assert item.event == event and item.snapshot == b"jpeg-bytes"
        assert outbox.snapshot_stats()["oldest_undelivered_age_s"] >= 0


def test_a_second_live_owner_is_refused(outbox_path):
    with Outbox(OutboxParams(outbox_path), {"jsonl:x": 1}):
        with pytest.raises(PublishError, match="in use"):
            Outbox(OutboxParams(outbox_path), {"jsonl:x": 1})
    Outbox(OutboxParams(outbox_path), {"jsonl:x": 1}).close()     # free again once closed


@pytest.mark.parametrize("event", [{"camera_id": "a"}, {"event_id": "x"}, {"event_id": 3},
                                   {"event_id": "x", "camera_id": "a", "score": float("nan")},
                                   {"event_id": "x", "camera_id": "a", "box": object()}])
def test_events_without_id_camera_or_json_shape_are_refused(outbox_path, event):
    with Outbox(OutboxParams(outbox_path), {"jsonl:x": 1}) as outbox:
        with pytest.raises(PublishError, match="event"):
            outbox.emit(event)
        assert outbox.depth() == 0


def test_events_for_removed_publishers_are_kept(outbox_path, caplog):
    with Outbox(OutboxParams(outbox_path), {"jsonl:old": 1}) as outbox:
        outbox.emit(make_event("cam-a", 0))
    with caplog.at_level(logging.WARNING, logger="kvs_pool.publish.outbox"):
        with Outbox(OutboxParams(outbox_path), {"jsonl:new": 1}) as outbox:
            assert outbox.depth() == 1
    assert any("jsonl:old" in r.getMessage() for r in caplog.records)
