"""A throwaway Debian bookworm VM with systemd as PID 1 and cgroup v2, for tests that need a
real init (where the tests run, systemd is rarely PID 1, and the cgroups may be v1).

``build_image`` builds the image once and caches it: ``debootstrap --variant=minbase`` with
systemd, the virtio and 9p modules of Debian's own kernel package, and a boot hook. The whole
root file system becomes an uncompressed cpio that the kernel unpacks as its initramfs: no disk
image, no root-mount drivers, and every boot starts from the same fresh tree in RAM.

``run_job`` boots it under qemu (KVM when it works, else TCG) with host directories shared
read-only over 9p at the same paths in the guest (e.g. the host's Python and a virtualenv, so
the guest runs the code under test without installing it), plus a writable job directory: the
hook mounts the shares, runs ``<job>/run`` (output in ``<job>/run.log``, exit status in
``<job>/exit-status``) and powers the guest off. qemu is killed if the guest outlives the
timeout, or if the caller is interrupted.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import re
import shutil
import signal
import stat
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = ["Image", "missing_tools", "build_image", "run_job"]

# Bump when the recipe below changes: the cached image is found by this name.
RECIPE = "bookworm-minbase-systemd-v1"
SUITE = "bookworm"
PACKAGES = ("systemd", "systemd-sysv", "udev", "kmod", "libsqlite3-0", "libreadline8")
# Modules (directories under lib/modules/<version>/kernel) the guest loads to reach the shares.
MODULE_DIRS = ("drivers/virtio", "net/9p", "fs/9p", "fs/netfs", "fs/fscache")
# No prompts, logins or timers in a guest nobody logs into.
MASKED = ("getty@.service", "serial-getty@.service", "getty-static.service",
          "systemd-firstboot.service", "proc-sys-fs-binfmt_misc.automount",
          "apt-daily.timer", "apt-daily-upgrade.timer")
PRUNED = ("usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/info",
          "var/cache/apt", "var/lib/apt/lists")
PR_SET_PDEATHSIG = 1      # <linux/prctl.h>
NINEP = "trans=virtio,version=9p2000.L,msize=262144"

HOOK = f"""#!/bin/sh
# Mount the host's shares (the job directory first), run its job, power off (the unit does).
modprobe -a virtio_pci 9pnet_virtio 9p || exit 1
mkdir -p /job && mount -t 9p -o {NINEP},cache=none job /job || exit 1
while read -r tag path; do
  mkdir -p "$path" && mount -t 9p -o {NINEP},cache=loose,ro "$tag" "$path" || exit 1
  d=$path; while [ "$d" != / ]; do d=$(dirname "$d"); chmod o+x "$d"; done  # any user may enter
done < /job/mounts
/job/run > /job/run.log 2>&1
echo $? > /job/exit-status
"""
HOOK_UNIT = """[Unit]
Description=Run the host's job (9p tag "job"), then power off
SuccessAction=poweroff-force
FailureAction=poweroff-force

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/vm-job
"""
CMDLINE = ("console=ttyS0 panic=-1 rdinit=/sbin/init systemd.unified_cgroup_hierarchy=1 "
           "systemd.show_status=error loglevel=4")


@dataclass(frozen=True)
class Image:
    """A bootable guest: Debian's kernel and the root file system as an initramfs."""

    kernel: Path
    initrd: Path


def missing_tools() -> list[str]:
    """What building or booting the image needs and this machine lacks (Debian packages)."""
    needed = {"qemu-system-x86_64": "qemu-system-x86", "debootstrap": "debootstrap",
              "apt-get": "apt", "dpkg": "dpkg", "depmod": "kmod"}
    missing = [f"{tool} ({package})" for tool, package in needed.items()
               if shutil.which(tool) is None]
    if os.geteuid() != 0:
        missing.append("root (debootstrap needs it)")
    return missing


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses (``deb.debian.org`` if none is found)."""
    sources = [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]
    for path in sources:
        text = path.read_text(errors="replace") if path.is_file() else ""
        for url in re.findall(r"(?:^deb\s+(?:\[[^]]*\]\s+)?|^URIs:\s*)(\S+)", text, re.M):
            if url.rstrip("/").endswith("/debian"):
                return url
    return "http://deb.debian.org/debian"


def build_image(cache_dir: Path) -> Image:
    """The cached image under ``cache_dir``, built first if absent (a lock keeps concurrent
    builders from racing; a failed build leaves nothing behind)."""
    final = cache_dir / RECIPE
    image = Image(final / "vmlinuz", final / "rootfs.cpio")
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / f"{RECIPE}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not image.initrd.is_file():
            work = cache_dir / f"{RECIPE}.building"
            _remove(work)
            try:
                _build(work)
                (work / "image").rename(final)
            finally:
                _remove(work)
    return image


def _remove(work: Path) -> None:
    """Delete a build tree, first unmounting anything a failed debootstrap left mounted in it
    (deepest first), so that the removal never reaches the host's /proc, /sys or /dev."""
    points = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for point in sorted((p for p in points if p.startswith(f"{work}/")), reverse=True):
        subprocess.run(["umount", "--lazy", point], check=False)
    shutil.rmtree(work, ignore_errors=True)


def _build(work: Path) -> None:
    """debootstrap, kernel and modules, pruning, the hook, the cpio: into ``work/image``."""
    root, image = work / "root", work / "image"
    image.mkdir(parents=True)
    _run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE,
          str(root), debian_mirror()])
    _add_kernel(root, work, image / "vmlinuz")
    for pruned in PRUNED:
        shutil.rmtree(root / pruned, ignore_errors=True)
    _install_hook(root)
    with open(image / "rootfs.cpio", "wb") as out:
        _write_cpio(root, out)


def _run(argv: Sequence[str], cwd: Path | None = None) -> str:
    """Run a build step; its output is in the error when it fails."""
    done = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}):\n"
                           f"{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done.stdout


def _add_kernel(root: Path, work: Path, vmlinuz: Path) -> None:
    """Debian's current kernel: the image beside the initramfs, the modules that reach the 9p
    shares inside it."""
    unpacked = work / "kernel"
    _run(["dpkg-deb", "-x", str(_download_kernel(work)), str(unpacked)])
    shutil.copy(next((unpacked / "boot").glob("vmlinuz-*")), vmlinuz)
    source = next((unpacked / "lib/modules").iterdir())
    target = root / "lib/modules" / source.name
    target.mkdir(parents=True)
    for name in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
        shutil.copy(source / name, target / name)
    for sub in MODULE_DIRS:
        shutil.copytree(source / "kernel" / sub, target / "kernel" / sub)
    _run(["depmod", "-b", str(root), source.name])


def _download_kernel(work: Path) -> Path:
    """Debian's kernel package fetched into ``work`` (refreshing host apt's lists once, should
    the mirror have moved past them)."""
    try:
        return _fetch_kernel(work)
    except RuntimeError:
        _run(["apt-get", "update", "-qq"])
        return _fetch_kernel(work)


def _fetch_kernel(work: Path) -> Path:
    """The package ``linux-image-amd64`` depends on in host apt's lists, downloaded."""
    depends = _run(["apt-cache", "depends", "linux-image-amd64"])
    package = re.search(r"Depends: (linux-image-\S+)", depends)
    if package is None:
        raise RuntimeError(f"no kernel package behind linux-image-amd64:\n{depends}")
    _run(["apt-get", "download", package.group(1)], cwd=work)
    return next(work.glob(f"{package.group(1)}_*.deb"))


def _install_hook(root: Path) -> None:
    """The job hook, enabled; the units a headless guest must not start, masked."""
    hook = root / "usr/local/sbin/vm-job"
    hook.write_text(HOOK)
    hook.chmod(0o755)
    units = root / "etc/systemd/system"
    (units / "vm-job.service").write_text(HOOK_UNIT)
    wants = units / "multi-user.target.wants"
    wants.mkdir(exist_ok=True)
    (wants / "vm-job.service").symlink_to("/etc/systemd/system/vm-job.service")
    for name in MASKED:
        (units / name).unlink(missing_ok=True)
        (units / name).symlink_to("/dev/null")
    (root / "etc/hostname").write_text("kvs-vm\n")


def _walk(root: Path) -> Iterator[Path]:
    """Every path under ``root``, parents before children, symlinks not followed."""
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        for name in [*sorted(dirs), *sorted(files)]:
            yield Path(directory) / name


def _write_cpio(root: Path, out: BinaryIO) -> None:
    """``root`` as a cpio archive in the kernel's "newc" format (an initramfs): a header of
    13 hex fields, the name, the data, each padded to 4 bytes; hard links are stored as copies."""
    for path in _walk(root):
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            data = os.readlink(path).encode()
        elif stat.S_ISREG(st.st_mode):
            data = path.read_bytes()
        else:
            data = b""
        meta = (st.st_mode, st.st_uid, st.st_gid, 1, int(st.st_mtime))
        _cpio_entry(out, str(path.relative_to(root)), meta, st.st_rdev, data)
    _cpio_entry(out, "TRAILER!!!", (0, 0, 0, 1, 0), 0, b"")


def _cpio_entry(out: BinaryIO, name: str, meta: tuple[int, ...], rdev: int, data: bytes) -> None:
    """One newc entry; ``meta`` is (mode, uid, gid, nlink, mtime)."""
    fields = (0, *meta, len(data), 0, 0, os.major(rdev), os.minor(rdev), len(name) + 1, 0)
    header = b"070701" + b"".join(b"%08X" % f for f in fields) + name.encode() + b"\0"
    out.write(header + b"\0" * (-len(header) % 4))
    out.write(data + b"\0" * (-len(data) % 4))


def accelerator() -> list[str]:
    """KVM when the host has hardware-virtualisation KVM (kvm_intel/kvm_amd) and /dev/kvm is
    ours, else TCG (emulation). Other KVM flavours (e.g. kvm_pvm, which only runs guest kernels
    built for it) hang Debian's kernel at boot, so they count as absent."""
    hardware = any(Path("/sys/module", m).is_dir() for m in ("kvm_intel", "kvm_amd"))
    if hardware and os.access("/dev/kvm", os.R_OK | os.W_OK):
        return ["-machine", "accel=kvm", "-cpu", "host"]
    return ["-machine", "accel=tcg", "-cpu", "max"]


def qemu_command(image: Image, job: Path, shares: Sequence[Path], memory_mb: int) -> list[str]:
    """qemu booting ``image``: serial console to ``<job>/console.log``, no display, no network,
    ``job`` shared writable (tag ``job``), each share read-only (tags s0, s1, ...)."""
    argv = ["qemu-system-x86_64", *accelerator(), "-smp", "2",
            "-m", str(memory_mb), "-nodefaults", "-no-user-config", "-display", "none",
            "-no-reboot", "-kernel", str(image.kernel), "-initrd", str(image.initrd),
            "-append", CMDLINE, "-serial", f"file:{job / 'console.log'}",
            "-virtfs", f"local,path={job},mount_tag=job,security_model=none"]
    for n, share in enumerate(shares):
        argv += ["-virtfs", f"local,path={share},mount_tag=s{n},security_model=none,readonly=on"]
    return argv


def _die_with_parent() -> None:
    """In the child before exec: the kernel SIGKILLs qemu when its parent (the test) dies,
    however it dies."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def run_job(image: Image, job: Path, shares: Sequence[Path], timeout: float,
            memory_mb: int = 1536) -> int | None:
    """Boot, run ``<job>/run`` in the guest as root, power off. Returns the job's exit status,
    or None when it never finished (``console.log`` and ``run.log`` in ``job`` say why)."""
    (job / "mounts").write_text("".join(f"s{n} {share}\n" for n, share in enumerate(shares)))
    (job / "run").chmod(0o755)
    qemu = subprocess.Popen(qemu_command(image, job, shares, memory_mb),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
    try:
        output, _ = qemu.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        output = b"(timed out)"
    finally:
        if qemu.poll() is None:
            qemu.kill()
            qemu.wait()
    (job / "qemu.log").write_bytes(output or b"")
    status = job / "exit-status"
    return int(status.read_text()) if status.is_file() else None
