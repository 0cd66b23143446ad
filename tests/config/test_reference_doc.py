"""docs/config.md documents every key the reader accepts (a new setting must be documented)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import kvs_pool.config as config

DOC = Path(__file__).resolve().parents[2] / "docs" / "config.md"


def test_every_key_of_every_section_is_in_the_reference() -> None:
    text = DOC.read_text()
    sections = [getattr(config, name) for name in config.__all__
                if dataclasses.is_dataclass(getattr(config, name))]
    assert len(sections) > 15
    missing = sorted({f"{cls.__name__}.{field.name}" for cls in sections
                      for field in dataclasses.fields(cls)
                      if f"{field.name}:" not in text and f"{field.name}=" not in text})
    assert missing == []
