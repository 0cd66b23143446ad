"""The supervisor is generic: importing it loads none of the pool's packages (config, rings,
metrics, workers, emulator, pipeline); those come with the composition (``kvs_pool.pool``)."""

from __future__ import annotations

import subprocess
import sys

_POOL_SIDE = ("config", "ring", "metrics", "workers", "emulator", "pipeline", "pool", "web")


def test_importing_the_supervisor_loads_no_pool_package() -> None:
    code = ("import sys, kvs_pool.supervisor, kvs_pool.supervisor.zygote; "
            "print('\\n'.join(sorted(sys.modules)))")
    modules = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                             text=True, timeout=120).stdout.split()
    loaded = {name.split(".")[1] for name in modules
              if name.startswith("kvs_pool.") and name.count(".") >= 1}
    assert not loaded & set(_POOL_SIDE), sorted(loaded)
