"""load_config on real files: completion of derived settings, and every kind of bad file."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvs_pool.backoff import BackoffPolicy
from kvs_pool.config import ConfigError, PoolConfig, load_config

GOOD = """\
pool:
  name: site1
defaults:
  target_fps: 5
  ring_slots: 6
  backoff: {initial_s: 2, max_s: 40}
aws: {region: eu-west-1, profile: cams}
cameras:
  - id: front-door
    source: {kvs: front-door}
  - id: dock
    target_fps: null
    backoff: {max_s: 10}
    source:
      kvs: {stream_name: dock, region: us-east-1, endpoint_url: "http://127.0.0.1:4567"}
  - id: yard
    ring_slots: 16
    source: {url: "rtsp://10.0.0.5/stream1"}
pipelines:
  - name: people
    cameras: [front-door, yard]
    detector: {type: motion}
    publishers:
      - {type: kinesis, stream_name: events}
      - {type: jsonl, path: out/events.jsonl}
"""


def write(tmp_path: Path, text: str, name: str = "site.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems_of(path: Path, **kwargs: object) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, **kwargs)  # type: ignore[arg-type]
    return caught.value.problems


def test_good_file_loads_with_defaults_merged_into_cameras(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD), base_dir=str(tmp_path))
    assert isinstance(config, PoolConfig)
    assert config.camera_ids == ("front-door", "dock", "yard")
    front, dock, yard = config.cameras
    assert (front.target_fps, front.ring_slots) == (5.0, 6)
    assert dock.target_fps is None and yard.ring_slots == 16
    assert front.backoff.policy() == BackoffPolicy(initial_s=2, max_s=40)
    assert dock.backoff.policy() == BackoffPolicy(initial_s=2, max_s=10)
    assert yard.source.kind == "url" and yard.source.url == "rtsp://10.0.0.5/stream1"
    assert [p.name for p in config.pipelines_for("yard")] == ["people"]
    assert config.pipelines_for("dock") == ()
    assert config.camera("dock") is dock
    with pytest.raises(KeyError):
        config.camera("nope")


def test_completion_fills_aws_defaults_state_dir_and_outbox(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD), base_dir=str(tmp_path))
    front, dock = config.camera("front-door").source.kvs, config.camera("dock").source.kvs
    assert front is not None and dock is not None
    assert (front.stream_name, front.region, front.profile) == ("front-door", "eu-west-1", "cams")
    assert (dock.region, dock.endpoint_url) == ("us-east-1", "http://127.0.0.1:4567")
    assert config.pool.state_dir == str(tmp_path / "var" / "site1")
    assert config.outbox.path == str(tmp_path / "var" / "site1" / "outbox.sqlite3")
    kinesis, jsonl = config.pipelines[0].publishers
    assert (kinesis.region, kinesis.profile) == ("eu-west-1", "cams")  # type: ignore[union-attr]
    assert jsonl.path == str(tmp_path / "out" / "events.jsonl")  # type: ignore[union-attr]


def test_every_problem_is_listed_with_file_key_and_line(tmp_path: Path) -> None:
    text = (GOOD.replace("ring_slots: 6", "ring_slots: 1")
            .replace("id: dock", "id: front-door")
            .replace("rtsp://10.0.0.5/stream1", "ftp://10.0.0.5/x")
            .replace("name: site1", "name: site/1")
            .replace("cameras: [front-door, yard]", "cameras: [front-door, gate]"))
    path = write(tmp_path, text)
    assert problems_of(path) == [
        f"{path}:pool.name: 'site/1' is not a valid name (letters, digits, '_' or '-', "
        "starting with a letter or digit, ≤ 48) (line 2)",
        f"{path}:defaults.ring_slots: must be between 2 and 256 (got 1) (line 5)",
        f"{path}:cameras[1].id: duplicate id 'front-door' (also cameras[0]) (line 11)",
        f"{path}:cameras[2].source.url: not an rtsp/http(s)/file URL (scheme 'ftp') (line 18)",
    ]


def test_cross_section_references_are_checked(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("cameras: [front-door, yard]", "cameras: [front-door, gate]"))
    assert problems_of(path) == [
        f"{path}:pipelines[0].cameras[1]: no camera with id 'gate' "
        "(cameras: dock, front-door, yard) (line 21)"]


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "pool:\n  name: [site1\ncameras: []\n")
    problems = problems_of(path)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:3:")
    assert "invalid YAML" in problems[0]


def test_duplicate_yaml_keys_are_problems(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("  ring_slots: 6\n", "  ring_slots: 6\n  ring_slots: 7\n"))
    assert problems_of(path) == [
        f"{path}:defaults.ring_slots: duplicate key (YAML would keep only the last) (line 6)"]


@pytest.mark.parametrize(("text", "reason"), [
    ("", "the file is empty"),
    ("- a\n- b\n", "the top level must be a mapping with 'pool' and 'cameras'"),
    ("just text\n", "the top level must be a mapping with 'pool' and 'cameras'"),
])
def test_not_a_mapping(tmp_path: Path, text: str, reason: str) -> None:
    path = write(tmp_path, text)
    assert problems_of(path) == [f"{path}: {reason}"]


def test_missing_unreadable_and_directory(tmp_path: Path) -> None:
    assert problems_of(tmp_path / "nope.yaml") == [f"{tmp_path / 'nope.yaml'}: no such file"]
    assert problems_of(tmp_path) == [f"{tmp_path}: is a directory, not a config file"]
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    problems = problems_of(binary)
    assert len(problems) == 1 and problems[0].startswith(f"{binary}: ")


def test_required_sections(tmp_path: Path) -> None:
    path = write(tmp_path, "defaults: {}\n")
    assert problems_of(path) == [f"{path}:pool: required key is missing",
                                 f"{path}:cameras: required key is missing"]
    path = write(tmp_path, "pool: {name: a}\ncameras: []\n")
    assert problems_of(path) == [f"{path}:cameras: must not be empty (line 2)"]


def test_file_sources_must_exist_unless_check_files_is_off(tmp_path: Path) -> None:
    text = GOOD.replace('"rtsp://10.0.0.5/stream1"', "clips/yard.mp4")
    path = write(tmp_path, text)
    missing = tmp_path / "clips" / "yard.mp4"
    assert problems_of(path, base_dir=str(tmp_path)) == [
        f"{path}:cameras[2].source.url: file not found: {missing} (line 18)"]
    config = load_config(path, base_dir=str(tmp_path), check_files=False)
    assert config.camera("yard").source.url == str(missing)
    missing.parent.mkdir()
    missing.write_bytes(b"")
    text = GOOD.replace('"rtsp://10.0.0.5/stream1"', f"file://{missing}")
    config = load_config(write(tmp_path, text), base_dir=str(tmp_path))
    assert config.camera("yard").source.url == str(missing)
