"""Hostile YAML: alias bombs, alias cycles and deep nesting give one clear line, fast and small."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from kvs_pool.config import ConfigError, parse_config
from kvs_pool.config.document import MAX_DEPTH, MAX_NODES

TAIL = "pool: {name: p}\ncameras: [{id: a, source: {url: 'rtsp://h/1'}}]\n"


def bomb(levels: int) -> str:
    """"Billion laughs": each level is a list of ten aliases of the level below."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    return "\n".join(lines) + f"\ndefaults: {{extra: *l{levels - 1}}}\n" + TAIL


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "c.yaml")
    return caught.value.problems


def test_alias_bomb_is_refused_while_composing() -> None:
    assert 10 ** 6 > MAX_NODES  # six levels expand to a million nodes
    found = problems(bomb(6))
    assert len(found) == 1
    assert found[0].startswith("c.yaml:6:") and "alias bomb" in found[0], found


def test_moderate_aliases_still_work() -> None:
    text = ("x-common: &common {target_fps: 4}\n"
            "pool: {name: p}\n"
            "cameras: [{<<: *common, id: a, source: {url: 'rtsp://h/1'}},\n"
            "          {<<: *common, id: b, source: {url: 'rtsp://h/2'}}]\n")
    found = problems(text)  # x-common is not a key of the schema, but aliases resolved
    assert found == ["c.yaml:x-common: unknown key (expected one of: pool, defaults, aws, "
                     "emulator, cameras, pipelines, outbox) (line 1)"]


def test_alias_cycle_is_refused() -> None:
    found = problems("defaults: &d {extra: [*d]}\n" + TAIL)
    assert len(found) == 1 and "cycle" in found[0] and found[0].startswith("c.yaml:1:"), found


@pytest.mark.parametrize("opener", ["[", "{a: "])
def test_deep_nesting_is_one_line_not_a_recursion_error(opener: str) -> None:
    found = problems(opener * 5000)
    assert len(found) == 1 and found[0].startswith("c.yaml:1:"), found
    assert found[0].endswith(f": invalid YAML: nested deeper than {MAX_DEPTH} levels")


def test_nesting_at_the_limit_is_parsed() -> None:
    levels = MAX_DEPTH - 2  # under the top-level mapping and defaults
    deep = "[" * levels + "]" * levels
    found = problems(f"defaults: {{extra: {deep}}}\n" + TAIL)
    assert all("nested" not in p for p in found)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def test_check_refuses_a_nine_level_bomb_in_bounded_memory(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(bomb(9))
    result = subprocess.run([sys.executable, "-m", "kvs_pool", "check", "c.yaml"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120,
                            preexec_fn=_limit_memory)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("c.yaml:6:") and "alias bomb" in lines[0]


def test_key_with_a_newline_stays_on_one_line() -> None:
    found = problems('"a\\nb": 1\n' + TAIL)  # found by tests/config/test_fuzz.py
    assert found == ["c.yaml:'a\\nb': unknown key (expected one of: pool, defaults, aws, "
                     "emulator, cameras, pipelines, outbox) (line 1)"]


def test_sighup_reload_of_a_bomb_is_refused_and_keeps_the_config(
        tmp_path: Path, pool_name: str, caplog: pytest.LogCaptureFixture) -> None:
    from kvs_pool.pool.runtime import PoolOptions, PoolRuntime
    good = f"pool: {{name: {pool_name}, state_dir: {tmp_path}}}\n" + TAIL.split("\n", 1)[1]
    named = f"pool: {{name: {pool_name}}}"
    (tmp_path / "c.yaml").write_text(bomb(6).replace("pool: {name: p}", named))
    config = parse_config(good)
    runtime = PoolRuntime(config, PoolOptions(config_path=str(tmp_path / "c.yaml")))
    assert runtime.reload() is None  # not started: a refused reload touches nothing
    assert runtime.config is config
    refusals = [r.getMessage() for r in caplog.records if "reload refused" in r.getMessage()]
    assert len(refusals) == 1 and "alias bomb" in refusals[0], refusals
