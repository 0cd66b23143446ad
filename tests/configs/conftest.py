"""The ``vm`` marker: tests that boot a qemu VM (tests/vm.py). Select them with ``-m vm``, or
leave them out with ``-m "not vm"``."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "vm: boots a Debian VM under qemu (tests/vm.py); slow")
