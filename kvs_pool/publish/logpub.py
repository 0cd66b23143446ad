"""Log publisher: write each event to the log (trials, debugging); delivered once logged."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from kvs_pool.publish.base import OutboxItem, Outcome

__all__ = ["LogParams", "LogPublisher"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LogParams:
    """The level events are logged at."""

    level: str = "info"
    batch_size: int = 500


class LogPublisher:
    """Stage-1 publisher logging one line per event."""

    stage = 1

    def __init__(self, params: LogParams) -> None:
        self.params = params
        self.name = "log"
        self.batch_size = max(1, params.batch_size)
        self._level = logging.getLevelName(params.level.upper())
        if not isinstance(self._level, int):
            raise ValueError(f"unknown log level {params.level!r}")

    def publish(self, items: Sequence[OutboxItem]) -> list[Outcome]:
        """Log every item; never fails."""
        for item in items:
            log.log(self._level, "event %s", json.dumps(item.event, sort_keys=True),
                    extra={"camera_id": item.camera_id})
        return [Outcome(i.seq, True) for i in items]
