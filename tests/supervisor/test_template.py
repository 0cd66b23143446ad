"""The worker template with real processes: workers forked from it are the supervisor's own
children (exit codes, -N for signals), the template holds no thread, socket or ring and shows
its title, a killed template is replaced while its workers live on, one that cannot start is
a clear error, and a URL decoder forked from it runs without boto3 or onnxruntime (a KVS
decoder's template holds boto3). A kernel that refuses the subreaper or a fork, and a template
that stops reading, are clear errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import fake_workers
import psutil
import pytest
from polling import wait_for

from kvs_pool.config import parse_config
from kvs_pool.errors import KvsPoolError
from kvs_pool.pool.rings import RingSet
from kvs_pool.pool.specs import KVS_PRELOAD, SHARED_PRELOAD
from kvs_pool.supervisor.child import ChildArgs, ChildHandle
from kvs_pool.supervisor.template import Templates, WorkerTemplate
from kvs_pool.workers import EXIT_CONFIG, EXIT_OK
from kvs_pool.workers.decoder import DecoderArgs


class _Templates(Templates):
    """The pool's templates, remembering the workers they forked for the clean-up."""

    def __init__(self, pool: str) -> None:
        super().__init__(pool, SHARED_PRELOAD)
        self.handles: list[ChildHandle] = []

    def spawn(self, args: ChildArgs, extra: tuple[str, ...] = ()) -> ChildHandle:
        handle = super().spawn(args, extra)
        self.handles.append(handle)
        return handle


@pytest.fixture
def templates(pool_name: str) -> Iterator[_Templates]:
    made = _Templates(pool_name)
    try:
        yield made
    finally:
        for handle in made.handles:
            handle.kill()
            wait_for(lambda h=handle: h.poll() is not None, 10, "a test worker to be reaped")
        made.stop()


def _spawn(templates: Templates, entry: str, payload: object = None,
           extra: tuple[str, ...] = ()) -> ChildHandle:
    args = ChildArgs(name="w", entry=getattr(fake_workers, entry), payload=payload,
                     parent_pid=os.getpid(), title=f"kvs-pool[{templates.pool}]: test w")
    return templates.spawn(args, extra)


def _exit_code(handle: ChildHandle) -> int:
    return wait_for(lambda: handle.poll() is not None and [handle.poll()], 20,
                    "the worker's exit")[0]


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()


def test_workers_are_our_children_with_their_exit_statuses(templates: Templates) -> None:
    assert _exit_code(_spawn(templates, "exit_with", EXIT_CONFIG)) == EXIT_CONFIG
    obedient = _spawn(templates, "obedient")
    assert psutil.Process(obedient.pid).ppid() == os.getpid()  # adopted, not the template's
    wait_for(lambda: _cmdline(obedient.pid) == f"kvs-pool[{templates.pool}]: test w", 20,
             "the worker's title")
    obedient.terminate()
    assert _exit_code(obedient) == EXIT_OK
    stubborn = _spawn(templates, "stubborn", str(Path(f"/tmp/{templates.pool}.stubborn")))
    wait_for(lambda: Path(f"/tmp/{templates.pool}.stubborn").exists(), 20, "the worker to run")
    Path(f"/tmp/{templates.pool}.stubborn").unlink()
    stubborn.terminate()
    time.sleep(0.3)
    assert stubborn.poll() is None  # ignored SIGTERM
    stubborn.kill()
    assert _exit_code(stubborn) == -signal.SIGKILL


def test_template_holds_no_thread_socket_or_ring(templates: Templates) -> None:
    templates.start()  # threads checked before any fork (OpenBLAS stops its pool at a fork)
    pid = templates.get().pid
    assert _cmdline(pid) == f"kvs-pool[{templates.pool}]: template"
    assert os.listdir(f"/proc/{pid}/task") == [str(pid)]
    _exit_code(_spawn(templates, "exit_with", 0))
    links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    assert len([link for link in links if link.startswith("socket:")]) == 1  # its channel
    assert "/dev/shm/" not in Path(f"/proc/{pid}/maps").read_text()


def test_a_killed_template_is_replaced_and_its_workers_live_on(templates: Templates) -> None:
    first = _spawn(templates, "obedient")
    old = templates.get().pid
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: psutil.Process(old).status() == psutil.STATUS_ZOMBIE, 20,
             "the template to die")
    second = _spawn(templates, "obedient")
    assert templates.get().pid not in (0, old)
    assert first.poll() is None and second.poll() is None
    for handle in (first, second):
        handle.terminate()
        assert _exit_code(handle) == EXIT_OK


def _decoder_modules(templates: Templates, url: str, tmp_path: Path,
                     extra: tuple[str, ...]) -> set[str]:
    config = parse_config(f"pool: {{name: {templates.pool}, state_dir: {tmp_path}}}\n"
                          f"defaults: {{max_resolution: [320, 240]}}\n"
                          f"cameras: [{{id: c, source: {{url: '{url}'}}}}]\n")
    rings = RingSet(templates.pool)
    rings.ensure(config.camera("c"))
    out = tmp_path / f"modules{len(extra)}.txt"
    try:
        args = DecoderArgs(pool=templates.pool, camera=config.camera("c"))
        handle = _spawn(templates, "decode_then_list_modules", (args, 3.0, str(out)), extra)
        assert _exit_code(handle) == EXIT_OK
        frames = rings.status("c")
        assert frames is not None and frames.write_seq > 0  # it really decoded
    finally:
        rings.unlink_all()
    return set(out.read_text().split())


def test_url_decoder_imports_neither_boto3_nor_onnxruntime(templates: Templates, live_camera,
                                                           tmp_path: Path) -> None:
    modules = _decoder_modules(templates, live_camera, tmp_path, ())
    assert {"numpy", "cv2", "av", "kvs_pool.sources.url"} <= modules
    assert not {"boto3", "botocore", "onnxruntime"} & modules
    kvs_template = _decoder_modules(templates, live_camera, tmp_path, KVS_PRELOAD)
    assert "boto3" in kvs_template and "onnxruntime" not in kvs_template


def test_a_template_that_cannot_start_is_a_clear_error(pool_name: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    template = WorkerTemplate(pool_name, SHARED_PRELOAD + ("dies_on_import",))
    with pytest.raises(KvsPoolError, match=r"worker template did not load its modules: it "
                                           r"exited \(exited with code 7\)"):
        template.start()
    assert template.pid == 0  # reaped, nothing left running


def test_a_module_the_template_cannot_preload_is_left_to_the_workers(pool_name: str) -> None:
    """A preload that fails to import is reported by the template, which still forks workers
    (a worker importing the module will say what is wrong)."""
    templates = _Templates(pool_name)
    templates.shared = ("kvs_pool_no_such_module",)
    try:
        handle = _spawn(templates, "exit_with", EXIT_OK)
        wait_for(lambda: handle.poll() is not None, 30, "the worker to exit")
        assert handle.poll() == EXIT_OK
    finally:
        templates.stop()


@pytest.mark.parametrize("payload,failed", [
    (None, "fork w"),                               # the request fits in the socket's buffer
    (bytes(16 << 20), "take the request for w"),    # it does not: sending it times out
], ids=["waiting-for-the-pid", "sending-the-request"])
def test_a_frozen_template_is_a_clear_error_and_is_killed(
        pool_name: str, monkeypatch: pytest.MonkeyPatch, payload: bytes | None,
        failed: str) -> None:
    """A template that stops answering (here SIGSTOP) fails the spawn with a clear error after
    the fork timeout, and is SIGKILLed and reaped instead of left behind."""
    import kvs_pool.supervisor.template as template_module
    monkeypatch.setattr(template_module, "_FORK_TIMEOUT_S", 1.0)
    template = WorkerTemplate(pool_name, ("setproctitle",))
    template.start()
    pid = template.pid
    try:
        os.kill(pid, signal.SIGSTOP)
        args = ChildArgs(name="w", entry=fake_workers.obedient, payload=payload,
                         parent_pid=os.getpid())
        with pytest.raises(KvsPoolError, match=rf"worker template did not {failed}: timed out "
                                               r"\(killed by SIGKILL\)"):
            template.spawn(args)
        assert template.pid == 0 and not psutil.pid_exists(pid)
    finally:
        template.stop()


def test_a_template_whose_supervisor_is_gone_leaves_at_once(
        pool_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The template checks its parent is the supervisor it was started by (the parent-death
    signal cannot cover a parent that died before the prctl): here it was told another pid."""
    import kvs_pool.supervisor.template as template_module
    monkeypatch.setattr(template_module.os, "getpid", lambda: 1)
    template = WorkerTemplate(pool_name, ("setproctitle",))
    with pytest.raises(KvsPoolError, match=r"did not load its modules: it exited "
                                           r"\(left because the supervisor died \(exit 5\)\)"):
        template.start()
    assert template.pid == 0


def _under_refusing_kernel(refusal: str, pool: str) -> list[str]:
    """What ``refusing_kernel.py`` printed: the supervisor's error, whether the template runs."""
    helper = Path(__file__).with_name("refusing_kernel.py")
    done = subprocess.run([sys.executable, str(helper), refusal, pool], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.splitlines()


def test_a_kernel_without_child_subreapers_fails_the_start_clearly(pool_name: str) -> None:
    """Workers forked by the template could not be reaped: no template is started."""
    assert _under_refusing_kernel("subreaper", pool_name) == [
        "cannot become a child subreaper (prctl PR_SET_CHILD_SUBREAPER: Invalid argument): "
        "workers could not be reaped", "template running: False"]


def test_a_template_that_cannot_fork_says_why_and_keeps_serving(pool_name: str) -> None:
    """fork() failing in the template (EAGAIN: a pids limit) fails that spawn only (the
    arbiter retries it with backoff); the template is kept for the next one."""
    assert _under_refusing_kernel("fork", pool_name) == [
        "worker template cannot fork w: Resource temporarily unavailable",
        "template running: True"]
