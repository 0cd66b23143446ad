"""Prometheus families from the inference workers' telemetry pages, read at scrape time.

Each worker's shared-memory page (``kvs_pool.telemetry_page``; its document has the
``kvs_pool.pipeline.stats`` layout plus the outbox's ``snapshot_stats()`` under ``"outbox"``)
becomes the families ``kvs_pool.telemetry`` declares (name, type, help, labels, document key),
and only those; the ``worker`` label is the page's worker (the supervisor's name for it, as in
``kvs_pool_worker_up``). A page that is not ours, not 0600 or unreadable is skipped (warning);
a histogram whose buckets are not cumulative numbers (debug log) and a value that is not a
number are left out.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from kvs_pool.errors import RingError
from kvs_pool.telemetry import CAMERA, INFERENCE_SECONDS, OUTBOX, PUBLISHER, Family
from kvs_pool.telemetry_page import page_workers, read_page

__all__ = ["stats_families", "read_pages"]

log = logging.getLogger(__name__)

# prometheus_client leaves this one unannotated: a bound as the exposition format writes it
_go_float: Callable[[float], str] = floatToGoString


def stats_families(pool: str) -> list[Metric]:
    """Every schema family, filled from the telemetry pages of ``pool``'s workers."""
    families = _Families()
    for worker, doc in read_pages(pool):
        families.add_worker(worker, doc)
    return [families.histogram, *families.by_name.values()]


def read_pages(pool: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(worker, stats document)`` of each readable telemetry page, by worker name."""
    for worker in page_workers(pool):
        try:
            doc = read_page(pool, worker)
        except (RingError, ValueError) as exc:   # not ours, not 0600, torn or malformed
            log.warning("skipping the telemetry page of %s: %s", worker, exc)
            continue
        if doc is not None:
            yield worker, doc


class _Families:
    """The families of one scrape, one per schema name (declaration order)."""

    def __init__(self) -> None:
        self.histogram = HistogramMetricFamily(
            INFERENCE_SECONDS.name, INFERENCE_SECONDS.help, labels=["worker"])
        self.by_name: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
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
        if buckets is not None and _is_number(total):
            self.histogram.add_metric([worker], buckets, float(total))
        else:
            log.debug("worker %s: skipping malformed %s %r", worker, INFERENCE_SECONDS.key, doc)


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
    return [(_go_float(bound), float(count)) for bound, count in pairs]


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
