"""Processes for the ring tests, started as independent programs (like users' own processes).

    python ring_actors.py producer POOL CAM [--frames N] [--fps F] [--size WxH] [--switch-at N --size2 WxH]
    python ring_actors.py consumer POOL CAM [--until SEQ] [--timeout S] [--hold S] [--latest]
    python ring_actors.py owner POOL CAM       # creates a ring, prints "ready", sleeps forever

Every frame's pixels encode its sequence number: the first and last 8 bytes hold it as a u64,
every byte in between is ``seq % 251``. The producer writes head, body, then tail, so a frame
read while being rewritten has a mismatching head, body or tail. A consumer prints "ready" once
attached and, at the end, one JSON line with what it accepted and every fault it saw.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from kvs_pool import client
from kvs_pool.ring import RingGeometry, RingWriter, create_ring


def stamp(array: np.ndarray, seq: int) -> None:
    """Write ``seq`` into a frame: head, body, tail (in that order)."""
    flat = array.reshape(-1)
    mark = np.frombuffer(np.uint64(seq).tobytes(), dtype=np.uint8)
    flat[:8] = mark
    flat[8:-8] = seq % 251
    flat[-8:] = mark


def stamped_seq(array: np.ndarray) -> int | None:
    """The sequence a frame encodes, or None if head, body and tail disagree (torn)."""
    flat = array.reshape(-1)
    head = int(flat[:8].view(np.uint64)[0])
    tail = int(flat[-8:].view(np.uint64)[0])
    if head != tail or not (flat[8:-8] == head % 251).all():
        return None
    return head


def _size(text: str) -> tuple[int, int]:
    w, h = text.lower().split("x")
    return int(w), int(h)


def produce(args: argparse.Namespace) -> None:
    writer = RingWriter.attach(args.pool, args.cam)
    period = 1.0 / args.fps if args.fps else 0.0
    w, h = _size(args.size)
    count = 0
    while args.frames == 0 or count < args.frames:
        if args.switch_at and writer.seq + 1 >= args.switch_at:
            w, h = _size(args.size2)
        frame = writer.loan(h, w, 3)
        stamp(frame, writer.seq + 1)
        writer.commit(time.time())
        writer.add(frames=1)
        count += 1
        if period:
            time.sleep(period)
    print(json.dumps({"last_seq": writer.seq, "written": count}), flush=True)
    writer.close()


def consume(args: argparse.Namespace) -> None:
    report = {"accepted": 0, "first": None, "last": 0, "torn": 0, "out_of_order": 0,
              "wrong_seq": 0, "overwritten": 0, "accounting_errors": 0, "missed_sum": 0,
              "shapes": [], "generations": []}
    with client.attach(args.cam, pool=args.pool, timeout=10.0) as cam:
        print("ready", flush=True)
        prev_returned = None
        for frame in cam.frames(timeout=args.timeout, latest=args.latest):
            if prev_returned is not None and not args.latest and (
                    frame.seq != prev_returned + 1 + frame.missed):
                report["accounting_errors"] += 1
            prev_returned = frame.seq
            report["missed_sum"] += frame.missed
            if args.hold:
                time.sleep(args.hold)
            _judge(frame, report)
            if args.until and frame.seq >= args.until:
                break
        report["missed_total"] = cam.missed
    print(json.dumps(report), flush=True)


def _judge(frame: client.Frame, report: dict) -> None:
    """Verify a frame, then accept it only if the slot was not rewritten meanwhile."""
    encoded = stamped_seq(frame.array)
    if not frame.is_intact():
        report["overwritten"] += 1
        return
    if encoded is None:
        report["torn"] += 1
    elif encoded != frame.seq:
        report["wrong_seq"] += 1
    if frame.seq <= report["last"]:
        report["out_of_order"] += 1
    report["accepted"] += 1
    report["first"] = report["first"] or frame.seq
    report["last"] = frame.seq
    shape = list(frame.shape)
    if shape not in report["shapes"]:
        report["shapes"].append(shape)
    if frame.generation not in report["generations"]:
        report["generations"].append(frame.generation)


def own(args: argparse.Namespace) -> None:
    create_ring(args.pool, args.cam, RingGeometry(64, 48, 3, 4))
    print("ready", flush=True)
    time.sleep(3600)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["producer", "consumer", "owner"])
    parser.add_argument("pool")
    parser.add_argument("cam")
    parser.add_argument("--frames", type=int, default=0)
    parser.add_argument("--fps", type=float, default=0.0)
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--size2", default="160x120")
    parser.add_argument("--switch-at", type=int, default=0)
    parser.add_argument("--until", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--hold", type=float, default=0.0)
    parser.add_argument("--latest", action="store_true")
    args = parser.parse_args()
    {"producer": produce, "consumer": consume, "owner": own}[args.role](args)


if __name__ == "__main__":
    sys.exit(main())
