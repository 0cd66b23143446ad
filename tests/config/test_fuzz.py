"""Fuzz the config loader: random mutations of the shipped configs give problems, never a crash.

Thousands of mutated ``configs/site.yaml`` and ``configs/demo.yaml`` go through the loader in
process: structural mutations (a value replaced by random data, a key removed or added) of the
parsed file, and text mutations (bytes inserted, removed or repeated) of the raw file. Each must
load or raise ``ConfigError`` whose problems are single ``file:...: reason`` lines; any other
exception, or a hang (the test's timeout), fails. A handful go through ``kvs-pool check`` as a
real process: exit 0 or 1, no traceback.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kvs_pool.config import ConfigError, parse_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SOURCES = {name: (CONFIGS / name).read_text() for name in ("site.yaml", "demo.yaml")}
LABEL = "c.yaml"


def fuzz(examples: int) -> settings:
    """No deadline (a loaded CI host is slow, a hang is the timeout's job), no example files."""
    return settings(max_examples=examples, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))

scalars = (st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
           | st.sampled_from(["", "0", "-1", "1e999", "null", "../..", "/proc/x", "*", "a" * 300,
                              "rtsp://", "file:///dev/zero", "kvs", "0.0.0.0", "[1, 2]"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)


def assert_clean(text: str) -> None:
    """Load ``text``: success, or ConfigError with one-line ``c.yaml:...: reason`` problems."""
    try:
        parse_config(text, LABEL, check_files=False)
    except ConfigError as exc:
        assert exc.problems, "ConfigError without problems"
        for problem in exc.problems:
            assert problem.startswith(f"{LABEL}:") and "\n" not in problem, problem


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path (tuple of keys and indexes) in plain YAML data."""
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths(value, prefix + (index,))
    return found


def mutate(data: Any, path: tuple[Any, ...], action: str, value: Any) -> Any:
    """``data`` with the node at ``path`` replaced, deleted, or given an extra key."""
    if not path:
        return value if action == "replace" else data
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if action == "replace":
        parent[last] = value
    elif action == "delete":
        del parent[last]
    elif isinstance(parent[last], dict):
        parent[last][str(value)[:20]] = value
    elif isinstance(parent[last], list):
        parent[last].append(value)
    return data


@given(name=st.sampled_from(sorted(SOURCES)), picks=st.lists(
    st.tuples(st.integers(0, 10 ** 6), st.sampled_from(["replace", "delete", "add"]), values),
    min_size=1, max_size=4))
@fuzz(1500)
def test_structural_mutations(name: str, picks: list[tuple[int, str, Any]]) -> None:
    data = yaml.safe_load(SOURCES[name])
    for index, action, value in picks:
        all_paths = paths(data)
        data = mutate(data, all_paths[index % len(all_paths)], action, value)
    assert_clean(yaml.safe_dump(data, allow_unicode=True))


edits = st.tuples(st.integers(0, 10 ** 6), st.integers(0, 40),
                  st.text(alphabet=":-[]{}&*!|>'\"#%@`?,= \n\t\\0123456789abcnul.", max_size=8)
                  | st.sampled_from(["[", "{", "{a: ", "- ", "a: "]),
                  st.sampled_from([1, 1, 1, 2, 10, 3000]))  # repeated: deep nesting too


def edited(text: str, picks: list[tuple[int, int, str, int]]) -> str:
    """``text`` with each pick's ``cut`` characters at ``position`` replaced by its insert."""
    for position, cut, insert, repeat in picks:
        at = position % (len(text) + 1)
        text = text[:at] + insert * repeat + text[at + cut:]
    return text


@given(name=st.sampled_from(sorted(SOURCES)), picks=st.lists(edits, min_size=1, max_size=4))
@fuzz(1200)
def test_text_mutations(name: str, picks: list[tuple[int, int, str, int]]) -> None:
    assert_clean(edited(SOURCES[name], picks))


@given(name=st.sampled_from(sorted(SOURCES)), picks=st.lists(edits, min_size=1, max_size=3))
@fuzz(6)
def test_check_cli_on_mutations(tmp_path_factory: Any, name: str,
                                picks: list[tuple[int, int, str, int]]) -> None:
    text = edited(SOURCES[name], picks)
    work = tmp_path_factory.mktemp("fuzz")
    (work / LABEL).write_text(text)
    result = subprocess.run([sys.executable, "-m", "kvs_pool", "check", "--no-files", LABEL],
                            cwd=work, capture_output=True, text=True, timeout=60)
    assert result.returncode in (0, 1) and "Traceback" not in result.stderr, result.stderr
    if result.returncode == 1:
        assert all(line.startswith((f"{LABEL}:", "hint: "))
                   for line in result.stderr.splitlines()), result.stderr
