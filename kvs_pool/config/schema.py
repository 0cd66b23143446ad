"""One generic reader that turns plain YAML data into frozen dataclasses, driven by type hints.

Every config section is a frozen dataclass. ``Reader.read(cls, data, path)`` walks the type hints
of ``cls`` and understands ``str``/``int``/``float``/``bool``, ``X | None``, ``tuple[X, ...]`` and
fixed ``tuple[X, Y]`` (and ``list[X]``, returned as a tuple), ``Literal[...]``, nested
dataclasses, ``dict[str, X]`` and unions: of dataclasses, discriminated by their ``type:
Literal[...]`` field; of scalars, by the value's kind. It never stops at the first fault: each
problem is recorded as ``file:dotted.path: reason`` (plus ``(line N)`` when the document gave
one) and the reader carries on, so one run lists every fault.

Adding a setting to a section is one line::

    threads: int = setting(2, check=at_least(1), doc="onnxruntime intra-op threads")

``setting`` options: ``check`` (a function value -> reason or None, skipped for None);
``kind="path"`` (resolved against the base directory); ``kind="file"`` (resolved, and must
exist unless the reader was told not to look at files), with ``names=(...)`` listing values
taken as they are (built-in model names); ``inherit="<sibling field>"`` (missing keys of this
field's dataclass items come from an already-read sibling: cameras from ``defaults``);
``unique="<key>"`` (list items must differ in that key; checked on the raw items, so reported
even when an item has other faults). A dataclass may define ``validate(self)`` yielding
``(relative key, reason)`` for rules spanning fields, and ``SHORTHAND: ClassVar[str]`` naming
the field a bare scalar stands for (``kvs: front-door`` = ``kvs: {stream_name: front-door}``).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import os
import re
import types
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

__all__ = [
    "Reader", "setting", "child", "INVALID", "Check",
    "between", "at_least", "greater_than", "matches", "one_of_schemes", "not_empty",
]

Check = Callable[[Any], "str | None"]
_NONE_TYPE = type(None)
_SCALARS = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


class _Invalid:
    """Marks a value that could not be read (its problem is already recorded)."""

    def __repr__(self) -> str:
        return "INVALID"


INVALID: Any = _Invalid()
_ABSENT: Any = object()


_OPTIONS = frozenset({"kind", "names", "inherit", "unique"})


def setting(default: Any = dataclasses.MISSING, *, factory: Any = dataclasses.MISSING,
            check: Check | None = None, doc: str = "", **options: Any) -> Any:
    """A dataclass field with the reader's metadata: ``check``, ``doc`` and the ``options``
    ``kind``, ``names``, ``inherit``, ``unique`` (see the module docstring)."""
    unknown = set(options) - _OPTIONS
    if unknown:
        raise TypeError(f"setting(): unknown options {sorted(unknown)}")
    metadata = {"check": check, "doc": doc, **options}
    return dataclasses.field(default=default, default_factory=factory, metadata=metadata)


def child(path: str, key: str | int) -> str:
    """The path of ``key`` under ``path``: ``a.b``, ``a[2]``; a key with a newline or another
    unprintable character is quoted (``a.'x\\n'``), so that a problem stays on one line."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    text = str(key) if str(key).isprintable() else repr(str(key))
    return f"{path}.{text}" if path else text


# --- checks: each returns a reason when the value is wrong, None when it is fine ------------

def between(low: float, high: float) -> Check:
    """Value (or every item of a tuple value) within [low, high]."""
    def check(value: Any) -> str | None:
        items = value if isinstance(value, tuple) else (value,)
        if all(low <= item <= high for item in items):
            return None
        return f"must be between {low:g} and {high:g} (got {_show(value)})"
    return check


def at_least(low: float) -> Check:
    """Value >= low."""
    return lambda value: None if value >= low else f"must be at least {low:g} (got {_show(value)})"


def greater_than(low: float) -> Check:
    """Value > low (``greater_than(0)``: positive)."""
    return lambda value: None if value > low else f"must be greater than {low:g} (got {_show(value)})"


def matches(pattern: str, what: str) -> Check:
    """A string matching a regular expression; ``what`` says in words what is expected."""
    compiled = re.compile(pattern)

    def check(value: Any) -> str | None:
        return None if compiled.fullmatch(value) else f"{_show(value)} is not {what}"
    return check


def not_empty(value: Any) -> str | None:
    """A non-empty string or collection."""
    return None if len(value) else "must not be empty"


def one_of_schemes(*schemes: str) -> Check:
    """A URL with one of ``schemes`` and a host."""
    def check(value: Any) -> str | None:
        scheme, _, rest = value.partition("://")
        if scheme.lower() in schemes and rest and not rest.startswith("/"):
            return None
        return f"{_show(value)} is not a {'/'.join(schemes)} URL with a host"
    return check


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value) if isinstance(value, str) else str(value)


def _describe(value: Any) -> str:
    """How a wrong value looks in a message: ``integer 12``, ``a list``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    kind = {int: "integer", float: "number", str: "string"}.get(type(value), type(value).__name__)
    return f"{kind} {_show(value)}"


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _discriminator(cls: type) -> str | None:
    hint = _hints(cls).get("type")
    return get_args(hint)[0] if get_origin(hint) is Literal else None


class Reader:
    """Reads plain data into dataclasses, collecting every problem in ``problems``."""

    def __init__(self, label: str, lines: Mapping[str, int] | None = None,
                 check_files: bool = True, base_dir: str | None = None) -> None:
        self.label = label
        self.lines = dict(lines or {})
        self.check_files = check_files
        self.base_dir = base_dir or os.getcwd()
        self._problems: list[tuple[int, int, str]] = []

    @property
    def problems(self) -> list[str]:
        """Every problem so far, in the order of the file (those without a line first)."""
        return [text for _, _, text in sorted(self._problems)]

    def problem(self, path: str, reason: str) -> None:
        """Record one problem at ``path`` (empty: the whole document)."""
        where = f"{self.label}:{path}" if path else self.label
        line = self._line(path)
        text = f"{where}: {reason}" + (f" (line {line})" if line else "")
        self._problems.append((line or 0, len(self._problems), text))

    def _line(self, path: str) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = re.sub(r"(\[\d+\]|\.?[^.\[]+)$", "", path)
        return None

    def read(self, tp: Any, value: Any, path: str, fallback: Any = None) -> Any:
        """``value`` as type ``tp``, or INVALID (problems recorded)."""
        origin = get_origin(tp)
        if tp is Any:
            return value
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            return self._read_dataclass(tp, value, path, fallback)
        if origin in (Union, types.UnionType):
            return self._read_union(get_args(tp), value, path, fallback)
        if origin is Literal:
            return self._read_literal(get_args(tp), value, path)
        if origin in (tuple, list):
            return self._read_sequence(tp, value, path, fallback)
        if origin in (dict, Mapping):
            return self._read_mapping(get_args(tp)[1], value, path, fallback)
        if tp in _SCALARS:
            return self._read_scalar(tp, value, path)
        raise TypeError(f"config schema: unsupported type {tp!r} at {path}")

    def _read_scalar(self, tp: type, value: Any, path: str) -> Any:
        if tp is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        wrong_bool = isinstance(value, bool) and tp is not bool
        if wrong_bool or not isinstance(value, tp):
            hint = " (quote it)" if tp is str and isinstance(value, (int, float)) else ""
            self.problem(path, f"expected {_SCALARS[tp]}, got {_describe(value)}{hint}")
            return INVALID
        if isinstance(value, float) and not math.isfinite(value):  # only when tp is float
            self.problem(path, f"must be a finite number (got {value})")
            return INVALID
        return value

    def _read_literal(self, choices: tuple[Any, ...], value: Any, path: str) -> Any:
        if isinstance(value, (str, int)) and not isinstance(value, bool) and value in choices:
            return value
        names = ", ".join(str(choice) for choice in choices)
        self.problem(path, f"must be one of: {names} (got {_describe(value)})")
        return INVALID

    def _read_sequence(self, tp: Any, value: Any, path: str, fallback: Any) -> Any:
        args = get_args(tp)
        if not isinstance(value, list):
            self.problem(path, f"expected a list, got {_describe(value)}")
            return INVALID
        if get_origin(tp) is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                self.problem(path, f"expected a list of {len(args)} items, got {len(value)}")
                return INVALID
            item_types = list(args)
        else:
            item_types = [args[0]] * len(value)
        items = [self.read(item_tp, item, child(path, i), fallback)
                 for i, (item_tp, item) in enumerate(zip(item_types, value))]
        return INVALID if any(item is INVALID for item in items) else tuple(items)

    def _read_mapping(self, value_tp: Any, value: Any, path: str, fallback: Any) -> Any:
        if not isinstance(value, Mapping):
            self.problem(path, f"expected a mapping, got {_describe(value)}")
            return INVALID
        result: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                self.problem(child(path, str(key)), "keys must be strings (quote it)")
                result[str(key)] = INVALID
                continue
            result[key] = self.read(value_tp, item, child(path, key), fallback)
        return INVALID if any(item is INVALID for item in result.values()) else result

    def _read_union(self, args: tuple[Any, ...], value: Any, path: str, fallback: Any) -> Any:
        members = [arg for arg in args if arg is not _NONE_TYPE]
        if value is None and _NONE_TYPE in args:
            return None
        if len(members) == 1:
            return self.read(members[0], value, path, fallback)
        if all(dataclasses.is_dataclass(member) for member in members):
            return self._read_tagged(members, value, path, fallback)
        for member in members:
            if _fits(member, value):
                return self.read(member, value, path, fallback)
        kinds = " or ".join(_SCALARS.get(member, str(member)) for member in members)
        self.problem(path, f"expected {kinds}, got {_describe(value)}")
        return INVALID

    def _read_tagged(self, members: list[type], value: Any, path: str, fallback: Any) -> Any:
        by_tag = {_discriminator(member): member for member in members}
        tags = ", ".join(str(tag) for tag in by_tag)
        if not isinstance(value, Mapping) or "type" not in value:
            self.problem(path, f"expected a mapping with a 'type' key (one of: {tags})")
            return INVALID
        member = by_tag.get(value["type"]) if isinstance(value["type"], str) else None
        if member is None:
            self.problem(child(path, "type"), f"must be one of: {tags} (got {_describe(value['type'])})")
            return INVALID
        return self._read_dataclass(member, value, path, fallback)

    def _read_dataclass(self, cls: type, value: Any, path: str, fallback: Any) -> Any:
        shorthand = getattr(cls, "SHORTHAND", None)
        if shorthand and isinstance(value, (str, int, float)) and not isinstance(value, bool):
            value = {shorthand: value}
        fields = [field for field in dataclasses.fields(cls) if field.init]
        if not isinstance(value, Mapping):
            keys = ", ".join(field.name for field in fields)
            self.problem(path, f"expected a mapping (keys: {keys}), got {_describe(value)}")
            return INVALID
        self._unknown_keys(value, [field.name for field in fields], path)
        values: dict[str, Any] = {}
        hints = _hints(cls)
        sources = {field.metadata.get("inherit") for field in fields}
        for field in sorted(fields, key=lambda item: item.name not in sources):
            got = self._read_field(field, hints[field.name], value, path, (fallback, values))
            if got is not _ABSENT:
                values[field.name] = got
        if any(item is INVALID for item in values.values()):
            return INVALID
        obj = cls(**values)
        for key, reason in _validate(obj):
            self.problem(child(path, key) if key else path, reason)
        return obj

    def _unknown_keys(self, value: Mapping[Any, Any], names: list[str], path: str) -> None:
        for key in value:
            if key in names:
                continue
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"expected one of: {', '.join(names)}"
            self.problem(child(path, str(key)), f"unknown key ({hint})")

    def _read_field(self, field: dataclasses.Field[Any], hint: Any, value: Mapping[str, Any],
                    path: str, context: tuple[Any, dict[str, Any]]) -> Any:
        """One field: from ``value``, else the fallback object, else the dataclass default."""
        fallback, siblings = context
        sub = child(path, field.name)
        inherited = getattr(fallback, field.name, _ABSENT) if fallback is not None else _ABSENT
        if field.name not in value:
            if inherited is not _ABSENT:
                return inherited
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                self.problem(sub, "required key is missing")
                return INVALID
            return _ABSENT
        inherit = field.metadata.get("inherit")
        if inherit:
            item_fallback = siblings.get(inherit)
        else:
            item_fallback = inherited if dataclasses.is_dataclass(inherited) else None
        if field.metadata.get("unique"):
            self._unique(value[field.name], field.metadata["unique"], sub)
        got = self.read(hint, value[field.name], sub, item_fallback)
        return got if got is INVALID else self._finish(field, got, sub)

    def _finish(self, field: dataclasses.Field[Any], value: Any, path: str) -> Any:
        """Resolve paths and run the field's own check."""
        if value is None:
            return value
        if value not in field.metadata.get("names", ()):
            value = self._resolve(field.metadata.get("kind"), value, path)
        if value is INVALID:
            return value
        check = field.metadata.get("check")
        reason = check(value) if check else None
        if reason:
            self.problem(path, reason)
            return INVALID
        return value

    def _unique(self, items: Any, key: str, path: str) -> None:
        """Report items of a raw list that repeat the value of ``key``."""
        if not isinstance(items, list):
            return
        first: dict[Any, int] = {}
        for index, item in enumerate(items):
            name = item.get(key) if isinstance(item, Mapping) else None
            if not isinstance(name, (str, int)) or isinstance(name, bool):
                continue
            if name in first:
                self.problem(child(child(path, index), key),
                             f"duplicate {key} {_show(name)} (also {child(path, first[name])})")
            first.setdefault(name, index)

    def _resolve(self, kind: str | None, value: Any, path: str) -> Any:
        """Make local paths absolute; check that files exist when asked to."""
        if kind == "location":
            scheme, sep, rest = value.partition("://")
            if sep and scheme.lower() != "file":
                return value
            kind, value = ("file", rest) if sep else ("file", value)
            if not value:
                self.problem(path, "empty path")
                return INVALID
        if kind not in ("path", "file"):
            return value
        value = os.path.normpath(os.path.join(self.base_dir, os.path.expanduser(value)))
        if kind == "file" and self.check_files and not os.path.isfile(value):
            self.problem(path, f"file not found: {value}")
            return INVALID
        return value


def _fits(tp: Any, value: Any) -> bool:
    """Whether a scalar union member ``tp`` is the natural reading of ``value``."""
    if isinstance(value, bool):
        return tp is bool
    if tp is float:
        return isinstance(value, (int, float))
    return isinstance(value, tp) if isinstance(tp, type) else False


def _validate(obj: Any) -> Iterator[tuple[str, str]]:
    hook = getattr(obj, "validate", None)
    return iter(hook()) if hook else iter(())
