"""Prometheus families from the inference workers' stats files, read at scrape time.

Each ``<stats_dir>/<worker>.json`` (layout: ``kvs_pool.pipeline.stats`` plus the outbox's
``snapshot_stats()`` under ``"outbox"``) becomes the families ``kvs_pool.telemetry`` declares
(name, type, help, labels, document key), and only those; the ``worker`` label is the file's
name (the supervisor's name for the worker, as in ``kvs_pool_worker_up``). A file that cannot
be read or parsed, or whose root is not an object, is skipped (debug log); so is a histogram
whose buckets are not cumulative numbers, and a value that is not a number.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily,
                                    HistogramMetricFamily, Metric)
from prometheus_client.utils import floatToGoString

from kvs_pool.telemetry import CAMERA, INFERENCE_SECONDS, OUTBOX, PUBLISHER, Family

__all__ = ["stats_families", "read_stats_dir"]

log = logging.getLogger(__name__)

def stats_families(directory: str | None) -> list[Metric]:
    """Every schema family, filled from the stats files in ``directory`` (empty if none)."""
    families = _Families()
    for worker, doc in read_stats_dir(directory):
        families.add_worker(worker, doc)
    return [families.histogram, *families.by_name.values()]


def read_stats_dir(directory: str | None) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(worker, document)`` of each readable ``<worker>.json``, by worker name."""
    if not directory or not os.path.isdir(directory):
        return
    for entry in sorted(os.listdir(directory)):
        if not entry.endswith(".json") or entry.startswith("."):
            continue
        path = os.path.join(directory, entry)
        try:
            with open(path, encoding="utf-8") as fh:
                doc = json.load(fh)
        except (OSError, ValueError, RecursionError) as exc:  # gone, partial, not JSON
            log.debug("skipping stats file %s: %s", path, exc)
            continue
        if isinstance(doc, dict):
            yield entry[:-5], doc
        else:
            log.debug("skipping stats file %s: not a JSON object", path)


class _Families:
    """The families of one scrape, one per schema name (declaration order)."""

    def __init__(self) -> None:
        self.histogram = HistogramMetricFamily(
            INFERENCE_SECONDS.name, INFERENCE_SECONDS.help, labels=["worker"])
        self.by_name: dict[str, Metric] = {}
        for family in (*CAMERA, *OUTBOX, *PUBLISHER):
            if family.name not in self.by_name:
                cls = CounterMetricFamily if family.kind == "counter" else GaugeMetricFamily
                self.by_name[family.name] = cls(family.name, family.help,
                                                labels=["worker", *family.labels])

    def add_worker(self, worker: str, doc: Mapping[str, Any]) -> None:
        histogram = doc.get(INFERENCE_SECONDS.key)
        if isinstance(histogram, Mapping):
            self._add_histogram(worker, histogram)
        for scope, families in _scopes(doc):
            for family in families:
                value = scope.values.get(family.key)
                if _is_number(value):
                    labels = [worker, *scope.labels, *family.fixed.values()]
                    self.by_name[family.name].add_metric(labels, float(value))

    def _add_histogram(self, worker: str, doc: Mapping[str, Any]) -> None:
        buckets = _cumulative_buckets(doc)
        total = doc.get("sum")
        if buckets is None or not _is_number(total):
            log.debug("worker %s: skipping malformed %s %r", worker, INFERENCE_SECONDS.key, doc)
            return
        self.histogram.add_metric([worker], buckets, float(total))


@dataclass(frozen=True)
class _Scope:
    """One mapping of a worker's document and the label values it stands for."""

    values: Mapping[str, Any]
    labels: tuple[str, ...] = ()


def _scopes(doc: Mapping[str, Any]) -> Iterator[tuple[_Scope, tuple[Family, ...]]]:
    """Each (camera, outbox, publisher) mapping of ``doc`` with the families read from it."""
    for camera_id, counters in _mapping(doc.get("cameras")).items():
        yield _Scope(_mapping(counters), (str(camera_id),)), CAMERA
    outbox = _mapping(doc.get("outbox"))
    yield _Scope(outbox), OUTBOX
    for publisher, counters in _mapping(outbox.get("publishers")).items():
        yield _Scope(_mapping(counters), (str(publisher),)), PUBLISHER


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _cumulative_buckets(doc: Mapping[str, Any]) -> list[tuple[str, float]] | None:
    """``[(le, count), ..., ("+Inf", count)]`` sorted by bound, or None unless the file's
    buckets are numbers that never decrease (the writer's cumulative, Prometheus layout).
    A missing ``+Inf`` bucket is taken from ``count``."""
    raw = doc.get("buckets")
    if not isinstance(raw, Mapping):
        return None
    try:
        pairs = sorted((float(bound), value) for bound, value in raw.items())
    except (TypeError, ValueError):
        return None
    if not pairs or pairs[-1][0] != math.inf:
        pairs.append((math.inf, doc.get("count")))
    counts = [value for _, value in pairs]
    if not all(_is_number(c) and c >= 0 for c in counts) or any(
            later < earlier for earlier, later in zip(counts, counts[1:])):
        return None
    return [(floatToGoString(bound), float(count)) for bound, count in pairs]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
