"""A publishing process for the kill -9 test: emits events into an outbox while its loop
delivers them; prints each event id once ``emit`` has returned (i.e. once it is durable).

Usage: python publisher_child.py OUTBOX S3_AND_DYNAMO_ENDPOINT KINESIS_ENDPOINT SUFFIX COUNT
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from awsworld import FAST_LOOP, AwsWorld, LocalMoto, make_event

from kvs_pool.publish import open_outbox

CAMERAS = ("cam-a", "cam-b", "cam-c")


def main(argv: list[str]) -> None:
    path, endpoint, kinesis_endpoint, suffix, count = argv
    server = LocalMoto()
    server.port = int(endpoint.rsplit(":", 1)[1])       # not started: only names the endpoint
    world = AwsWorld(server, suffix=suffix)
    outbox, loop = open_outbox(Path(path), world.publishers(kinesis_endpoint, 10),
                                   loop=FAST_LOOP)
    loop.start()
    for n in range(int(count)):
        event = make_event(CAMERAS[n % 3], n, tag=suffix)
        outbox.emit(event, b"\xff\xd8child-jpeg\xff\xd9")
        print(event["event_id"], flush=True)
        time.sleep(0.01)
    loop.stop(flush_timeout_s=600)


if __name__ == "__main__":
    main(sys.argv[1:])
