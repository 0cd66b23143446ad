"""Read a YAML file into plain data, with the line of every key and the keys given twice.

The file is parsed once into a node tree (which keeps positions), then constructed into plain
data with PyYAML's safe constructor. A walk over the nodes records ``dotted.path -> line`` for
the reader's messages, and lists keys repeated in one mapping (PyYAML silently keeps the last).
A file that cannot be read or parsed raises ``ConfigError`` naming ``file:line:column``.

The scanner and the composer are bounded, because a config may come from anyone who can write
the file and a reload runs inside the supervisor's loop: nesting deeper than ``MAX_DEPTH``
levels (PyYAML's composer recurses: ``[`` x 5000 was a ``RecursionError``), an alias that refers
to the node it is in (a cycle the reader would follow forever), and aliases that expand the
document beyond ``MAX_NODES`` nodes (a few hundred bytes of "billion laughs" took minutes and
gigabytes to walk) are refused while scanning or composing, each as one
``file:line:column: reason``. The expanded size of
every node is counted as it is composed (an alias adds the size of the node it names), so a
bomb is refused after composing its few distinct nodes, in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.scanner import ScannerError

from kvs_pool.config.schema import child
from kvs_pool.errors import ConfigError

__all__ = ["Document", "read_document", "MAX_DEPTH", "MAX_NODES"]

MAX_DEPTH = 64          # nesting levels; a real config uses fewer than 10
MAX_NODES = 200_000     # nodes after alias expansion; a 1,000-camera config is about 30,000


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


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer refuses deep nesting, alias cycles and alias bombs."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._depth = 0
        self._sizes: dict[int, int] = {}  # id(node) -> nodes it stands for once expanded

    def fetch_flow_collection_start(self, TokenClass: type) -> None:  # noqa: N803 - PyYAML's
        """Refuse a ``[`` or ``{`` beyond ``MAX_DEPTH`` while scanning: each one is a possible
        simple key the scanner keeps, so ``[`` x 5000 cost 0.35 s before the composer ran."""
        if self.flow_level >= MAX_DEPTH:
            raise ScannerError(None, None, f"nested deeper than {MAX_DEPTH} levels",
                               self.get_mark())
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]  # unannotated in types-PyYAML
        mark = _start_mark(event)
        if isinstance(event, yaml.AliasEvent):
            self._check_alias(event)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels", mark)
            # index: a position in a sequence, a key node in a mapping, or None: PyYAML passes all 3
            node = super().compose_node(parent, index)  # type: ignore[arg-type]  # stub says int
        finally:
            self._depth -= 1
        assert node is not None, "PyYAML's compose_node returns a node or raises"
        self._sizes[id(node)] = size = self._size(node)
        if size > MAX_NODES:
            raise ComposerError(None, None, f"aliases expand the document beyond {MAX_NODES} "
                                "nodes (an alias bomb?): write the values out instead", mark)
        return node

    def _check_alias(self, event: yaml.AliasEvent) -> None:
        """Refuse an alias of a node still being composed (one of its ancestors)."""
        target = self.anchors.get(event.anchor)
        if target is not None and id(target) not in self._sizes:
            raise ComposerError(None, None, "an alias refers to a node that contains it "
                                "(a cycle)", _start_mark(event))

    def _size(self, node: yaml.Node) -> int:
        known = self._sizes.get(id(node))
        if known is not None:  # an alias of a node composed before
            return known
        if isinstance(node, yaml.ScalarNode):
            return 1
        children = (node.value if isinstance(node, yaml.SequenceNode)
                    else [part for pair in node.value for part in pair])
        return 1 + sum(self._sizes[id(item)] for item in children)


def _start_mark(event: yaml.Event) -> yaml.Mark | None:
    """Where ``event`` starts. The pure-Python parser (SafeLoader's) makes ``yaml.Mark``s; the
    other type in the stubs is the C parser's, which this loader never uses."""
    mark = event.start_mark
    return mark if isinstance(mark, yaml.Mark) else None


def parse_text(text: str, label: str) -> Document:
    """Parse YAML ``text``; ``label`` names it in messages."""
    loader = _BoundedLoader(text)
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
    if depth > MAX_DEPTH:
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
