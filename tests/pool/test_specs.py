"""Worker specs from a config, and what counts as "changed" on reload."""

from __future__ import annotations

from kvs_pool.config import parse_config
from kvs_pool.pool.specs import specs_from_config
from kvs_pool.workers import entries

BASE = """
pool: {{name: p1, state_dir: /tmp/kvs-pool-test-specs}}
cameras:
  - {{id: a, source: {{url: "http://127.0.0.1:1/a.m3u8"}}}}
  - {{id: b, source: {{url: "http://127.0.0.1:1/b.m3u8"}}, target_fps: {fps}}}
  - {{id: c, source: {{url: "http://127.0.0.1:1/c.m3u8"}}}}
pipelines:
  - {{name: people, cameras: [a], detector: {{type: motion}}}}
"""


def test_specs_and_reload_changes() -> None:
    old = specs_from_config(parse_config(BASE.format(fps=5)))
    new = specs_from_config(parse_config(BASE.format(fps=2)))
    assert sorted(old) == ["decoder-a", "decoder-b", "decoder-c", "inference-people"]
    assert old["decoder-b"].kind == "decoder" and old["decoder-b"].camera_id == "b"
    assert old["decoder-b"].entry is entries.run_decoder
    assert old["inference-people"].startup_grace_s > old["inference-people"].heartbeat_timeout_s
    changed = sorted(name for name in old if old[name] != new[name])
    # camera b changed; the pipeline reads only a, so it does not restart
    assert changed == ["decoder-b"]


MIXED = """
pool: {name: p}
emulator:
  enabled: true
  port: 4567
  streams: [{name: s1}]
cameras:
  - {id: emu, source: {kvs: {stream_name: s1, region: us-east-1, endpoint_url: "http://127.0.0.1:4567"}}}
  - {id: aws, source: {kvs: {stream_name: real, region: us-east-1}}}
  - {id: other, source: {kvs: {stream_name: s2, region: us-east-1, endpoint_url: "http://127.0.0.1:9999"}}}
"""


def test_dummy_credentials_only_for_cameras_on_the_emulator() -> None:
    specs = specs_from_config(parse_config(MIXED))
    assert dict(specs["decoder-emu"].env)["AWS_ACCESS_KEY_ID"] == "emulator"
    assert specs["decoder-aws"].env == ()      # real AWS: boto3's own credential chain
    assert specs["decoder-other"].env == ()
