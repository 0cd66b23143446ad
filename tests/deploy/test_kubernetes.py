"""deploy/kubernetes: every manifest validates offline against the Kubernetes schemas
(kubernetes-validate bundles them), each embedded pool config is valid, and the StatefulSet
and Deployment agree with it: shard count, metrics port, /dev/shm sized from the rings."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from kvs_pool.config import PoolConfig, parse_config
from kvs_pool.pool.shard import assign
from kvs_pool.pool.sizing import shm_bytes

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
K8S_VERSION = "1.30.0"
_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def documents() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def kind(name: str) -> list[dict[str, Any]]:
    return [doc for doc in documents() if doc["kind"] == name]


def pool_config(config_map: str) -> PoolConfig:
    doc = next(d for d in kind("ConfigMap") if d["metadata"]["name"] == config_map)
    return parse_config(doc["data"]["pool.yaml"], f"{config_map}:pool.yaml", check_files=False)


def quantity(text: str) -> int:
    return int(text[:-2]) * _UNITS[text[-2:]] if text[-2:] in _UNITS else int(text)


def pod(workload: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    spec = workload["spec"]["template"]["spec"]
    return spec, spec["containers"][0]


def config_of(workload: dict[str, Any]) -> PoolConfig:
    spec, _ = pod(workload)
    volume = next(v for v in spec["volumes"] if "configMap" in v)
    return pool_config(volume["configMap"]["name"])


def shm_limit(workload: dict[str, Any]) -> int:
    spec, container = pod(workload)
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/dev/shm")
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    assert volume["emptyDir"]["medium"] == "Memory"
    return quantity(volume["emptyDir"]["sizeLimit"])


@pytest.mark.parametrize("doc", documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_manifest_is_valid_kubernetes(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_validation_can_fail() -> None:
    broken = copy.deepcopy(kind("StatefulSet")[0])
    broken["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def _probes_and_scrape(workload: dict[str, Any], config: PoolConfig) -> None:
    spec, container = pod(workload)
    port = config.pool.metrics.port
    assert config.pool.metrics.host == "0.0.0.0"
    assert [p["containerPort"] for p in container["ports"] if p["name"] == "metrics"] == [port]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    notes = workload["spec"]["template"]["metadata"]["annotations"]
    assert notes["prometheus.io/scrape"] == "true" and notes["prometheus.io/port"] == str(port)
    account = next(a for a in kind("ServiceAccount")
                   if a["metadata"]["name"] == spec["serviceAccountName"])
    role = account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert role.startswith("arn:aws:iam::")


def test_statefulset_runs_one_shard_per_pod_with_shm_for_its_rings() -> None:
    workload = kind("StatefulSet")[0]
    config = config_of(workload)
    replicas = workload["spec"]["replicas"]
    _, container = pod(workload)
    assert container["args"][-2:] == ["--shard", f"auto/{replicas}"]
    table = assign(config.camera_ids, replicas, config.pool.assignment.weights)
    largest = max(shm_bytes(c for c in config.cameras if table[c.id] == shard)
                  for shard in range(replicas))
    assert largest <= shm_limit(workload) <= 2 * largest + 64 * 2**20
    _probes_and_scrape(workload, config)


def test_leases_deployment_names_each_pod_and_fits_every_camera() -> None:
    workload = kind("Deployment")[0]
    config = config_of(workload)
    assert config.pool.assignment.mode == "leases" and config.pool.assignment.table
    _, container = pod(workload)
    env = {e["name"]: e for e in container["env"]}
    assert env["KVS_POOL_INSTANCE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert "--shard" not in container["args"]
    every = shm_bytes(config.cameras)            # after failovers one pod may hold them all
    assert every <= shm_limit(workload) <= 2 * every + 64 * 2**20
    _probes_and_scrape(workload, config)
