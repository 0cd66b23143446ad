"""deploy/prometheus/alerts.yml and deploy/grafana/kvs-pool.json: promtool accepts the rules,
each alert fires on the series it is meant for (``promtool test rules``), and the dashboard is a
Grafana dashboard whose every panel queries kvs-pool metrics. That the names exist in a real
scrape is checked by tests/supervisor/test_pool_demo.py against the running demo pool."""

from __future__ import annotations

import json

import pytest
from monitoring import ALERTS, DASHBOARD, promtool, used_metric_names

needs_promtool = pytest.mark.skipif(promtool("--version") is None,
                                    reason="promtool missing (Debian: apt-get install prometheus)")


@needs_promtool
def test_promtool_accepts_the_alert_rules() -> None:
    result = promtool("check", "rules", str(ALERTS))
    assert result is not None and result.returncode == 0, result and result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout


@needs_promtool
def test_every_alert_fires_on_its_series_and_not_on_healthy_ones() -> None:
    result = promtool("test", "rules", str(ALERTS.with_name("alerts_test.yml")))
    assert result is not None and result.returncode == 0, result and result.stdout + result.stderr


@needs_promtool
def test_rule_tests_would_catch_a_broken_threshold(tmp_path) -> None:
    broken = tmp_path / "alerts.yml"
    broken.write_text(ALERTS.read_text().replace("kvs_pool_camera_healthy == 0",
                                                 "kvs_pool_camera_healthy == 2"))
    (tmp_path / "alerts_test.yml").write_text(ALERTS.with_name("alerts_test.yml").read_text())
    result = promtool("test", "rules", str(tmp_path / "alerts_test.yml"))
    assert result is not None and result.returncode != 0


def test_dashboard_panels_each_query_kvs_pool_metrics() -> None:
    doc = json.loads(DASHBOARD.read_text())
    assert doc["uid"] == "kvs-pool" and doc["panels"]
    for panel in doc["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert "kvs_" in target["expr"] and "$instance" in target["expr"], target
    titles = " ".join(p["title"].lower() for p in doc["panels"])
    for topic in ("fps", "state", "restarts", "errors", "inference latency", "outbox depth"):
        assert topic in titles, topic


def test_files_use_counter_and_histogram_names_as_sampled() -> None:
    names = used_metric_names()
    assert "kvs_pool_inference_seconds_bucket" in names
    assert all(not n.endswith("_total_total") for n in names)
