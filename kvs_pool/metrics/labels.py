"""A collector wrapper adding constant labels (e.g. ``shard``) to every sample it yields.

Instances of one sharded pool each serve their own ``/metrics``; the ``shard`` label keeps
their series apart when one Prometheus scrapes them all (and in sums across instances).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

__all__ = ["LabelledCollector"]


class LabelledCollector:
    """Yields ``inner``'s families with ``labels`` added to each sample."""

    def __init__(self, inner: Collector, labels: Mapping[str, str]) -> None:
        self.inner = inner
        self.labels = dict(labels)

    def collect(self) -> Iterator[Metric]:
        for family in self.inner.collect():
            labelled = Metric(family.name, family.documentation, family.type, family.unit)
            labelled.samples = [sample._replace(labels={**sample.labels, **self.labels})
                                for sample in family.samples]
            yield labelled
