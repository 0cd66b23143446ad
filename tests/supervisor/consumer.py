"""A user's consumer process for pool tests: read one camera's frames until SIGTERM.

    python consumer.py POOL CAMERA

Prints "ready" once attached, then at the end one JSON line: frames read, first and last
sequence numbers, the longest gap between two frames (s), and of the pairs of consecutive
frames (seq n, n+1) how many carried consecutive synthetic frame indices (real decoded video in
order, not garbage).
"""

from __future__ import annotations

import json
import signal
import sys
import time

from kvs_pool import client
from kvs_pool.synth import frame_index


def main(pool: str, camera: str) -> None:
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    seqs, gap, last = [], 0.0, None
    pairs = ordered = 0
    previous: tuple[int, int] | None = None
    with client.attach(camera, pool=pool, timeout=60) as cam:
        print("ready", flush=True)
        while not stop:
            frame = cam.read(timeout=0.2)
            if frame is None:
                continue
            now = time.monotonic()
            gap = max(gap, now - last) if last else 0.0
            last = now
            seqs.append(frame.seq)
            index = frame_index(frame.array)
            if previous and previous[0] + 1 == frame.seq and frame.is_intact():
                pairs += 1
                ordered += index == previous[1] + 1
            previous = (frame.seq, index)
    print(json.dumps({"frames": len(seqs), "first_seq": seqs[0] if seqs else 0,
                      "last_seq": seqs[-1] if seqs else 0, "max_gap_s": gap,
                      "pairs": pairs, "ordered": ordered}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
