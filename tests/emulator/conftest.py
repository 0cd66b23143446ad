"""Fixtures for the emulator tests: dummy AWS credentials and a small running emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from emu_world import SPEC

from kvs_pool.emulator import EmulatorConfig, EmulatorServer


@pytest.fixture(autouse=True)
def _dummy_credentials(aws_env: None) -> None:
    """Every emulator test runs with the suite's dummy credentials (``tests/conftest.py``)."""


@pytest.fixture
def emu() -> Iterator[EmulatorServer]:
    """A running emulator serving ``STREAM``; a 2 s idle window so stall tests stay short."""
    with EmulatorServer(EmulatorConfig(streams=(SPEC,), idle_window_s=2.0)) as server:
        yield server


