"""JSON-lines publisher: append each event to a local file (demo, debugging, air-gapped sites).

Each batch is appended and fsynced before it counts as delivered; a crash between the write and
the outbox's bookkeeping repeats lines (same ``event_id``), never loses them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kvs_pool.private_files import open_private
from kvs_pool.publish.base import OutboxItem, Outcome

__all__ = ["JsonlParams", "JsonlPublisher"]


@dataclass(frozen=True)
class JsonlParams:
    """The file to append to."""

    path: Path
    batch_size: int = 500


class JsonlPublisher:
    """Stage-1 publisher writing one JSON object per line."""

    stage = 1

    def __init__(self, params: JsonlParams) -> None:
        self.params = params
        self.name = f"jsonl:{params.path}"
        self.batch_size = max(1, params.batch_size)

    def publish(self, items: Sequence[OutboxItem]) -> list[Outcome]:
        """Append all items in one write + fsync."""
        lines = "".join(json.dumps(i.event, sort_keys=True) + "\n" for i in items)
        try:
            with open_private(self.params.path, "a") as fh:  # 0600 whatever the umask
                fh.write(lines)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            return [Outcome(i.seq, False, f"{self.params.path}: {exc}") for i in items]
        return [Outcome(i.seq, True) for i in items]
