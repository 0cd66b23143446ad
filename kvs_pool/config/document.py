"""Read a YAML file into plain data, with the line of every key and the keys given twice.

The file is parsed once into a node tree (which keeps positions), then constructed into plain
data with PyYAML's safe constructor. A walk over the nodes records ``dotted.path -> line`` for
the reader's messages, and lists keys repeated in one mapping (PyYAML silently keeps the last).
A file that cannot be read or parsed raises ``ConfigError`` naming ``file:line:column``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from kvs_pool.config.schema import child
from kvs_pool.errors import ConfigError

__all__ = ["Document", "read_document"]

_MAX_DEPTH = 64


@dataclass
class Document:
    """Plain data of one YAML file, plus positions for messages."""

    data: Any
    lines: dict[str, int] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)


def read_document(path: str) -> Document:
    """Parse ``path``; raise ``ConfigError`` (one problem) if unreadable or not valid YAML."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{path}: is a directory, not a config file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from None
    return parse_text(text, path)


def parse_text(text: str, label: str) -> Document:
    """Parse YAML ``text``; ``label`` names it in messages."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        raise ConfigError([_syntax_problem(label, exc)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{label}: invalid YAML: {exc}"]) from None
    finally:
        loader.dispose()
    document = Document(data)
    if node is not None:
        _walk(node, "", document, 0)
    return document


def _syntax_problem(label: str, exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f"{label}:{mark.line + 1}:{mark.column + 1}" if mark else label
    reason = " ".join(part for part in (exc.context, exc.problem) if part)
    return f"{where}: invalid YAML: {reason}"


def _walk(node: yaml.Node, path: str, document: Document, depth: int) -> None:
    """Record the line of each key under ``node`` and keys repeated in one mapping."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            key_path = child(path, key_node.value)
            if key_node.value in seen:
                document.duplicates.append(key_path)
            seen.add(key_node.value)
            document.lines[key_path] = key_node.start_mark.line + 1
            _walk(value_node, key_path, document, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            document.lines[child(path, index)] = item.start_mark.line + 1
            _walk(item, child(path, index), document, depth + 1)
