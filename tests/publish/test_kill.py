"""kill -9 of a publishing process in the middle of a put_records call: a second process on the
same outbox delivers the rest; no event is lost, duplicates are only by event id."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from awsworld import FAST_LOOP, AwsWorld, FaultProxy, make_event
from polling import wait_for

from kvs_pool.publish import open_outbox

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
COUNT = 300


def _start_child(world: AwsWorld, proxy: FaultProxy, outbox_path: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(ROOT)]))
    args = [sys.executable, str(HERE / "publisher_child.py"), str(outbox_path),
            world.server.endpoint, proxy.endpoint, world.suffix, str(COUNT)]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)


def test_kill_9_mid_batch_loses_nothing(world: AwsWorld, fault_proxy: FaultProxy, outbox_path):
    fault_proxy.hold_s = 0.3           # each put_records is answered 0.3 s after moto stored it
    child = _start_child(world, fault_proxy, outbox_path)
    try:
        wait_for(lambda: len(fault_proxy.attempts) >= 3 and fault_proxy.in_flight.is_set(),
                 what="the child to be inside its third put_records call")
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(30)
    accepted = child.stdout.read().split()
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert 0 < len(accepted) < COUNT, "the kill must land while the child is still emitting"

    fault_proxy.hold_s = 0.0
    outbox, loop = open_outbox(outbox_path, world.publishers(fault_proxy.endpoint),
                                   loop=FAST_LOOP)
    assert outbox.depth() > 0, "the killed child left undelivered events"
    loop.start()
    try:
        wait_for(lambda: outbox.depth() == 0, timeout=90, what="the rest to be delivered")
    finally:
        loop.stop()
        outbox.close()

    candidates = {make_event(c, n, tag=world.suffix)["event_id"]
                  for n in range(COUNT) for c in ("cam-a", "cam-b", "cam-c")}
    kinesis = Counter(r["event"]["event_id"] for r in world.kinesis_records())
    dynamo = Counter(i["event_id"]["S"] for i in world.dynamo_items())
    s3 = Counter(Path(k).stem for k in world.s3_keys())
    for name, arrived in (("kinesis", kinesis), ("dynamodb", dynamo), ("s3", s3)):
        missing = set(accepted) - set(arrived)
        assert not missing, f"{name} lost {len(missing)} accepted events"
        assert set(arrived) <= candidates, f"{name} holds events nobody emitted"
    assert max(kinesis.values()) == 2, "the batch in flight at the kill is sent again"
    assert max(dynamo.values()) == 1 and max(s3.values()) == 1   # idempotent by key
