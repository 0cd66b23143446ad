"""The package's import seams hold: which subpackage may import which (docs/contracts.md's map).

Every ``import``/``from ... import`` of ``kvs_pool`` code is read from the source (module level
and inside functions alike), folded to its unit (a subpackage such as ``ring``, or a top-level
module such as ``errors``), and checked against the rules below.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import kvs_pool

PACKAGE = Path(kvs_pool.__file__).parent

# What the generic supervisor, the ring and the consumer library must never import.
FORBIDDEN = {
    "supervisor": {"workers", "config", "metrics", "emulator", "pipeline", "pool", "web", "cli",
                   "sources", "publish", "ring", "client"},
    "ring": {"client", "workers", "sources", "pipeline", "publish", "supervisor", "pool", "config",
             "metrics", "web", "cli", "emulator"},
    "client": {"workers", "sources", "pipeline", "publish", "supervisor", "pool", "config",
               "metrics", "web", "cli", "emulator"},
}


def unit_of(module: str) -> str | None:
    """``kvs_pool.ring.reader`` -> ``ring``; ``kvs_pool.errors`` -> ``errors``; others -> None."""
    parts = module.split(".")
    if parts[0] != "kvs_pool" or len(parts) < 2:
        return None
    return parts[1]


def imported_modules(tree: ast.AST, package: str) -> set[str]:
    """Absolute names of the modules a file imports (relative imports resolved in ``package``)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            name = ".".join(p for p in (base, node.module or "") if p)
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return found


def import_graph() -> dict[str, set[str]]:
    """unit -> the other units its files import."""
    graph: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(("kvs_pool",) + path.relative_to(PACKAGE).with_suffix("").parts)
        source = unit_of(module)
        if source is None:
            continue
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        tree = ast.parse(path.read_text(), str(path))
        targets = {unit_of(name) for name in imported_modules(tree, package)}
        graph[source].update(t for t in targets if t and t != source and is_unit(t))
    return graph


def is_unit(name: str) -> bool:
    """A subpackage or a top-level module of kvs_pool (not a name such as ``__version__``)."""
    return (PACKAGE / name / "__init__.py").exists() or (PACKAGE / f"{name}.py").exists()


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle found by a depth-first walk (each reported once per back edge)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                found.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                walk(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node, [node])
    return found


def test_the_graph_is_read_from_the_source() -> None:
    graph = import_graph()
    # known edges: a reading that found nothing would pass every rule below
    assert "ring" in graph["client"] and "ring" in graph["workers"] and "supervisor" in graph["pool"]


def test_low_layers_import_nothing_above_them() -> None:
    graph = import_graph()
    wrong = {unit: sorted(graph.get(unit, set()) & banned) for unit, banned in FORBIDDEN.items()}
    assert {unit: bad for unit, bad in wrong.items() if bad} == {}


def test_no_cycle_between_units() -> None:
    assert cycles(import_graph()) == []


def test_a_cycle_is_found_when_there_is_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
