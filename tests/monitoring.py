"""The shipped monitoring files (deploy/prometheus, deploy/grafana) as the tests see them: the
metric names their queries use, and promtool when it is installed (Debian: prometheus)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml

__all__ = ["DEPLOY", "ALERTS", "DASHBOARD", "used_metric_names", "promtool", "exported_names"]

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "kvs-pool.json"
_NAME = re.compile(r"\b(kvs_[a-z0-9_]+)")


def _queries() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    panels = json.loads(DASHBOARD.read_text())["panels"]
    exprs += [target["expr"] for panel in panels for target in panel["targets"]]
    templating = json.loads(DASHBOARD.read_text())["templating"]["list"]
    exprs += [v["definition"] for v in templating if v.get("type") == "query"]
    return exprs


def used_metric_names() -> set[str]:
    """Every kvs-pool metric name (as sampled: ``_bucket``, ``_total``) the files query."""
    return {name for expr in _queries() for name in _NAME.findall(expr)}


def exported_names(scrape: str) -> set[str]:
    """Sample names in a /metrics text (``# HELP``/``# TYPE`` lines skipped)."""
    return {line.split("{", 1)[0].split(" ", 1)[0] for line in scrape.splitlines()
            if line and not line.startswith("#")}


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str] | None:
    """Run ``promtool`` (None when it is not installed)."""
    exe = shutil.which("promtool")
    if exe is None:
        return None
    return subprocess.run([exe, *args], input=stdin, capture_output=True, text=True,
                          timeout=120)
