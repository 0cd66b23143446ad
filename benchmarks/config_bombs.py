"""Benchmark how fast hostile YAML is refused, next to loading the shipped site config.

    python benchmarks/config_bombs.py

Each case is parsed in process with ``kvs_pool.config.parse_config`` (median of 5 runs, wall
clock, peak RSS growth of this process): the baseline is ``configs/site.yaml`` (which loads);
the candidates are "billion laughs" alias bombs of 7 and 9 levels (10^7 and 10^9 nodes once
expanded, a few hundred bytes each) and 5,000 nested ``[``, which must all be refused. Each
figure is printed as seconds and as a ratio to the baseline. Ends with one JSON line.
"""

from __future__ import annotations

import json
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from kvs_pool.config import ConfigError, parse_config

SITE = (Path(__file__).resolve().parents[1] / "configs" / "site.yaml").read_text()
TAIL = "pool: {name: p}\ncameras: [{id: a, source: {url: 'rtsp://h/1'}}]\n"


def bomb(levels: int) -> str:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return "\n".join(lines) + f"\ndefaults: {{extra: *l{levels - 1}}}\n" + TAIL


def timed(text: str, runs: int = 5) -> tuple[float, str]:
    """Median seconds to parse ``text`` and what happened (loaded / the first problem)."""
    seconds, outcome = [], ""
    for _ in range(runs):
        start = time.perf_counter()
        try:
            parse_config(text, "c.yaml", check_files=False)
            outcome = "loaded"
        except ConfigError as exc:
            outcome = exc.problems[0]
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), outcome


def main() -> None:
    rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # noqa: E731 - KiB
    cases: dict[str, Callable[[], str]] = {
        "site_yaml": lambda: SITE, "bomb_7_levels": lambda: bomb(7),
        "bomb_9_levels": lambda: bomb(9), "nesting_5000": lambda: "[" * 5000}
    figures = {}
    baseline = 0.0
    for name, make in cases.items():
        before = rss()
        seconds, outcome = timed(make())
        baseline = baseline or seconds  # site.yaml, measured first
        figures[name] = {"seconds": round(seconds, 5), "ratio_to_site_yaml":
                         round(seconds / baseline, 2), "rss_growth_mb": (rss() - before) / 1024}
        print(f"{name:15s} {seconds * 1000:8.2f} ms  x{seconds / baseline:6.2f} of site.yaml  "
              f"+{(rss() - before) / 1024:.0f} MB  {outcome[:90]}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
