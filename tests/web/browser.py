"""Headless Chromium from Debian (``chromium``, ``chromium-driver``) driven by selenium.

No browser is downloaded: the system binaries are used, with the flags that keep Chromium off
the network it cannot reach here (background networking, component updates, sync, QUIC) and
out of the sandbox root cannot use. Missing binaries skip the test, unless
``KVS_POOL_REQUIRE_BROWSER=1`` (CI sets it) turns that into a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("KVS_POOL_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("KVS_POOL_CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage")


def _missing() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.exists(path) or shutil.which(path)):
            return f"{path} not installed (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium not installed (pip install -e '.[test]')"
    return None


@contextmanager
def chromium(profile: Path, width: int = 1280, height: int = 900) -> Iterator[object]:
    """A selenium WebDriver on a fresh profile; quit whatever happens."""
    problem = _missing()
    if problem:
        if os.environ.get("KVS_POOL_REQUIRE_BROWSER") == "1":
            pytest.fail(problem)
        pytest.skip(problem)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
