"""The tests' one polling helper: call a predicate until it is truthy, or fail the test saying
what was awaited. Tests poll real processes and servers on a shared machine, so they wait for
a condition with a generous deadline instead of sleeping a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

__all__ = ["wait_for"]


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0,
             what: str | Callable[[], str] = "", interval: float = 0.05) -> Any:
    """Poll ``predicate`` every ``interval`` s; return its first truthy value, or fail the test
    after ``timeout`` s naming ``what`` (a callable is asked then, to describe the state)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            named = what() if callable(what) else what
            pytest.fail(f"timed out after {timeout:g} s waiting for {named or predicate}")
        time.sleep(interval)
