"""``kvs_pool_build_info{version}``: the usual constant-1 gauge naming the running version, so
dashboards can show it and alerts can join on it."""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily

from kvs_pool import __version__

__all__ = ["build_info"]


def build_info() -> GaugeMetricFamily:
    """The family, with one sample of value 1."""
    family = GaugeMetricFamily("kvs_pool_build_info", "kvs-pool version running this pool",
                               labels=["version"])
    family.add_metric([__version__], 1.0)
    return family
