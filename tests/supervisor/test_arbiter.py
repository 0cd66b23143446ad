"""The arbiter's verbs with real spawned processes running tiny test workers: a worker that
ignores SIGTERM is SIGKILLed within the stop bound, a permanent failure waits the maximum
backoff, a worker that never heartbeats is replaced, a removed worker is stopped."""

from __future__ import annotations

import dataclasses
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import fake_workers
import pytest
from polling import wait_for

from kvs_pool.backoff import BackoffPolicy
from kvs_pool.config import parse_config
from kvs_pool.pipeline.stats import PipelineStats
from kvs_pool.pool.runtime import PoolOptions, PoolRuntime, pool_arbiter
from kvs_pool.supervisor import Arbiter, RunOptions, WorkerSpec
from kvs_pool.supervisor.signals import SignalQueue
from kvs_pool.supervisor.slot import Retirement, WorkerSlot
from kvs_pool.telemetry_page import TelemetryPage, page_name
from kvs_pool.workers import EXIT_CONFIG

POLICY = BackoffPolicy(initial_s=0.2, max_s=30, reset_after_s=60)


@pytest.fixture
def arbiter(pool_name: str, tmp_path) -> Iterator[Arbiter]:
    config = parse_config(f"pool: {{name: {pool_name}, state_dir: {tmp_path}}}\n"
                          "cameras: [{id: c, source: {url: 'http://127.0.0.1:9/x'}}]\n")
    runtime = PoolRuntime(config)
    signals = SignalQueue()
    arb = Arbiter(runtime, RunOptions(kill_grace_s=0.5, tick_s=0.05), signals)
    try:
        yield arb
    finally:
        arb.stop_workers(0.5)
        arb.templates.stop()
        signals.close()
        runtime.rings.unlink_all()


def _add(arb: Arbiter, name: str, entry: str, payload: object = None, **spec) -> WorkerSlot:
    slot = WorkerSlot(WorkerSpec(name=name, kind="test", entry=getattr(fake_workers, entry),
                                 payload=payload, backoff=POLICY, **spec))
    arb.slots[name] = slot
    return slot


def _tick_until(arb: Arbiter, predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        arb.tick()


def test_stop_kills_a_worker_that_ignores_sigterm(arbiter: Arbiter, tmp_path) -> None:
    ready = tmp_path / "ignoring-sigterm"
    slot = _add(arbiter, "stubborn", "stubborn", str(ready), heartbeat_timeout_s=600)
    arbiter.restart_due()
    assert slot.up
    deadline = time.monotonic() + 60
    while not ready.exists():  # it has installed its SIG_IGN
        assert time.monotonic() < deadline, "the stubborn worker did not start"
        time.sleep(0.05)
    started = time.monotonic()
    arbiter._stopping = True
    arbiter.stop_workers(1.0)
    assert not slot.up and time.monotonic() - started < 30
    assert slot.last_exit == "killed by SIGKILL"  # ours: not blamed on memory


def test_permanent_failure_backs_off_to_the_maximum(arbiter: Arbiter) -> None:
    slot = _add(arbiter, "bad", "exit_with", EXIT_CONFIG, heartbeat_timeout_s=600)
    arbiter.restart_due()
    _tick_until(arbiter, lambda: not slot.up and slot.spawns == 1)
    assert "failed permanently" in slot.last_exit
    assert slot.restart_at - time.monotonic() > 0.8 * 30 - 5
    assert arbiter.workers()[0].backoff_s > 15


def test_worker_without_heartbeat_is_replaced_and_removed_worker_stopped(arbiter) -> None:
    slot = _add(arbiter, "silent", "obedient", heartbeat_timeout_s=2.0)
    arbiter.restart_due()
    first = slot.handle.pid
    _tick_until(arbiter, lambda: slot.spawns == 2 and slot.up)
    assert slot.handle.pid != first
    # SIGTERM honoured, or (machine busy) delivered before the worker installed its handler
    assert slot.last_exit in ("stopped cleanly (exit 0)", "killed by SIGTERM"), slot.last_exit
    arbiter.retire(slot, Retirement.REMOVE)
    _tick_until(arbiter, lambda: "silent" not in arbiter.slots)


def _decoder(arb: Arbiter, payload: tuple, timeout_s: float) -> WorkerSlot:
    """A decoder-kind test worker on the fixture's camera ``c`` (its ring is created at spawn)."""
    slot = _add(arb, "decoder-c", "beats_then_exits", payload, heartbeat_timeout_s=timeout_s)
    object.__setattr__(slot.spec, "kind", "decoder")
    object.__setattr__(slot.spec, "camera_id", "c")
    return slot


def test_worker_detached_from_its_ring_is_not_hung_while_its_beat_is_fresh(arbiter) -> None:
    """Deterministic half of the false "hung" race: a decoder that lived longer than its stall
    limit detaches from its ring (producer pid cleared) on its way out. Its last heartbeat is
    fresh, so the stall check must not call it hung (it used to fall back to its start time)."""
    slot = _decoder(arbiter, (arbiter.pool, "c", 0.3, None, 0), timeout_s=20.0)
    arbiter.restart_due()
    assert slot.up
    slot.started -= 100.0  # as if it had run for 100 s (> 20 s limit) before leaving
    rings = arbiter.hooks.rings
    wait_for(lambda: (s := rings.status("c")) and s.writer_starts and not s.producer_pid,
             what="the worker to detach from its ring")
    arbiter.check_stalls()
    assert slot.retiring is None and slot.kill_at is None


def test_worker_exiting_on_its_own_after_the_stall_limit_keeps_its_exit(arbiter, caplog) -> None:
    """Real-process half: the worker heartbeats past its 5 s limit, detaches, takes 2 s to
    exit 3 (limits generous for a loaded machine: a spawn must beat within 5 s). The supervisor
    must report exit 3 and its maximum backoff, never "hung" + SIGTERM."""
    slot = _decoder(arbiter, (arbiter.pool, "c", 6.0, 2.0, EXIT_CONFIG), timeout_s=5.0)
    arbiter.restart_due()
    with caplog.at_level("INFO", logger="kvs_pool.supervisor.arbiter"):
        _tick_until(arbiter, lambda: slot.last_exit)
    assert not [r for r in caplog.records if "hung" in r.getMessage()], caplog.text
    assert "failed permanently" in slot.last_exit, slot.last_exit
    view = next(v for v in arbiter.workers() if v.name == slot.spec.name)
    assert view.backoff_s > 0.8 * 30 - 1  # the maximum backoff (30 s, jitter 80-120 %)


def _beat(arb: Arbiter, slot: WorkerSlot, beat_mono: float, wall_step_s: float) -> None:
    """The worker's telemetry page as the real writer makes it, stamped ``beat_mono``; the page
    file's mtime then moved by ``wall_step_s``, as a step of the wall clock looks."""
    pool = arb.hooks.name
    page = TelemetryPage.create(pool, slot.spec.name, ["c"], [])
    try:
        page.publish(PipelineStats().to_dict(slot.spec.name, "motion"))
        page.f[6] = beat_mono                   # heartbeat_mono (see the layout)
    finally:                                   # leave the page, as a live worker does
        page.u.release(), page.f.release(), page.shm.close()
    path = Path("/dev/shm", page_name(pool, slot.spec.name))
    mtime = path.stat().st_mtime + wall_step_s
    os.utime(path, (mtime, mtime))


def test_wall_clock_step_does_not_change_the_inference_heartbeat_verdict(arbiter) -> None:
    """The heartbeat is the telemetry page's CLOCK_MONOTONIC stamp, never a file's mtime (wall
    clock): a fresh beat after a 1 h backward step is fresh, a stale one after a forward step
    is stale."""
    slot = _add(arbiter, "inference-p", "obedient", heartbeat_timeout_s=5.0)
    object.__setattr__(slot.spec, "kind", "inference")
    arbiter.restart_due()
    slot.started -= 100.0                       # past its startup grace
    _beat(arbiter, slot, time.monotonic(), wall_step_s=-3600.0)
    arbiter.check_stalls()
    assert slot.retiring is None, "a fresh beat read as hung after a wall-clock step"
    _beat(arbiter, slot, time.monotonic() - 60.0, wall_step_s=+3600.0)
    arbiter.check_stalls()
    assert slot.retiring is Retirement.STALL, "a stale beat read as alive after a wall-clock step"


def test_config_change_restart_is_not_counted_as_a_failure(arbiter, caplog) -> None:
    """A restart asked by a reload has its own reason in the log, the worker table and metrics:
    it is not a crash restart."""
    slot = _add(arbiter, "steady", "obedient", heartbeat_timeout_s=600)
    arbiter.restart_due()
    first = slot.handle.pid
    changed = dataclasses.replace(slot.spec, fingerprint="v2")
    with caplog.at_level("INFO", logger="kvs_pool.supervisor.arbiter"):
        arbiter.apply({"steady": changed})
        _tick_until(arbiter, lambda: arbiter.slots["steady"].up
                    and arbiter.slots["steady"].handle.pid != first)
    fresh = arbiter.slots["steady"]
    view = fresh.view(time.monotonic())
    assert (view.restarts, view.config_restarts) == (0, 1)
    started = [r.getMessage() for r in caplog.records if "started, pid" in r.getMessage()]
    assert started and "config change" in started[-1] and "restart" not in started[-1], started


def test_healthz_is_not_healthy_before_the_cameras_have_started(pool_name, tmp_path) -> None:
    """The endpoint starts before the workers: until every configured camera has a decoder that
    reported, a readiness probe must read 503 naming the camera (it read 200: no camera yet)."""
    config = parse_config(f"pool: {{name: {pool_name}, state_dir: {tmp_path}, "
                          "metrics: {port: 0}}\n"
                          "cameras: [{id: c, source: {url: 'http://127.0.0.1:9/x'}}]\n")
    runtime = PoolRuntime(config)
    runtime.start_metrics()
    try:
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(runtime.metrics.url + "/healthz", timeout=30)
        assert failed.value.code == 503
        body = json.loads(failed.value.read())
        assert body["healthy"] is False and "c" in body["unhealthy"]
    finally:
        runtime.metrics.stop()


def test_start_warns_about_a_metrics_endpoint_beyond_loopback(pool_name, tmp_path,
                                                              caplog) -> None:
    config = parse_config(f"pool: {{name: {pool_name}, state_dir: {tmp_path}, "
                          "metrics: {host: 0.0.0.0, port: 0}}\n"
                          "cameras: [{id: c, source: {url: 'http://127.0.0.1:9/x'}}]\n")
    arb = pool_arbiter(config, PoolOptions(config_path="pool.yaml"), RunOptions(kill_grace_s=0.5))
    with caplog.at_level("WARNING", logger="kvs_pool.pool.runtime"):
        try:
            arb.start()
        finally:
            arb.stop()
    assert ("pool.yaml:pool.metrics.host: 0.0.0.0 is not a loopback address" in caplog.text
            ), caplog.text
