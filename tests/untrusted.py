"""The tests' one way to make a shared-memory file untrusted: mode 0644, or another user's
(``nobody``; needs root, skipped otherwise)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

__all__ = ["UNTRUSTED", "make_untrusted"]

UNTRUSTED = ("mode 0644", "another user's")


def make_untrusted(path: Path, change: str) -> None:
    """Apply ``change`` (one of ``UNTRUSTED``) to ``path``."""
    if change == "mode 0644":
        path.chmod(0o644)
        return
    if os.geteuid() != 0:
        pytest.skip("changing a file's owner needs root")
    os.chown(path, 65534, 65534)
