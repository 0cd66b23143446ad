"""What a pool's config binds beyond this host: the warnings ``check`` prints and ``run`` logs.

The metrics endpoint (``/metrics``, ``/healthz``: camera names, pids, health) and the embedded
KVS emulator listen on loopback by default. Another address (``0.0.0.0`` above all) is allowed,
since a Prometheus server or a demo viewer may live elsewhere, but never silently: each one is
named with the key that set it. The emulator's control API stays loopback-only unless
``emulator.allow_remote_faults`` (``kvs_pool.emulator.server``).
"""

from __future__ import annotations

from kvs_pool.config import PoolConfig
from kvs_pool.loopback import is_loopback

__all__ = ["exposure_warnings"]


def exposure_warnings(config: PoolConfig) -> list[tuple[str, str]]:
    """(dotted key, reason) for every endpoint the config binds to a non-loopback address."""
    found = []
    metrics = config.pool.metrics
    if metrics.enabled and not is_loopback(metrics.host):
        found.append(("pool.metrics.host", f"{metrics.host} is not a loopback address: "
                      "/metrics and /healthz are reachable from other hosts"))
    emulator = config.emulator
    if emulator.enabled and not is_loopback(emulator.host):
        faults = ("its fault endpoint too (emulator.allow_remote_faults)"
                  if emulator.allow_remote_faults else
                  "its fault endpoint still refuses them (emulator.allow_remote_faults)")
        found.append(("emulator.host", f"{emulator.host} is not a loopback address: the KVS "
                      f"emulator is reachable from other hosts, {faults}"))
    return found
