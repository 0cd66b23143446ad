"""The generic type-hint reader: every kind of field, and every problem collected in one pass."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import pytest

from kvs_pool.config.schema import INVALID, Reader, between, greater_than, setting


@dataclass(frozen=True, kw_only=True)
class Inner:
    SHORTHAND: ClassVar[str] = "name"
    name: str
    size: int = setting(4, check=between(1, 8))


@dataclass(frozen=True, kw_only=True)
class Cat:
    type: Literal["cat"] = "cat"
    lives: int = 9


@dataclass(frozen=True, kw_only=True)
class Dog:
    type: Literal["dog"] = "dog"
    bark: bool = True


@dataclass(frozen=True, kw_only=True)
class Outer:
    title: str
    ratio: float = setting(1.0, check=greater_than(0))
    flag: bool = False
    mode: Literal["a", "b"] = "a"
    pair: tuple[int, int] = (1, 2)
    many: tuple[Inner, ...] = setting((), unique="name", inherit="template")
    template: Inner | None = None
    table: dict[str, tuple[float, ...]] = setting(factory=dict)
    pet: Cat | Dog = setting(factory=Cat)
    tag: str | int = "x"
    note: str | None = None
    out: str | None = setting(None, kind="path")
    model: str = setting("builtin", kind="file", names=("builtin",))

    def validate(self) -> Iterator[tuple[str, str]]:
        if self.pair[0] > self.pair[1]:
            yield "pair", "first must not exceed second"


def read(data: object, **kwargs: object) -> tuple[object, list[str]]:
    reader = Reader("f.yaml", **kwargs)  # type: ignore[arg-type]
    return reader.read(Outer, data, ""), reader.problems


def test_reads_every_kind_of_field(tmp_path: Path) -> None:
    value, problems = read({
        "title": "t", "ratio": 2, "flag": True, "mode": "b", "pair": [3, 4],
        "many": [{"name": "one"}, "two"], "table": {"k": [1, 2.5]},
        "pet": {"type": "dog", "bark": False}, "tag": 7, "note": None, "out": "sub/x.txt",
    }, base_dir=str(tmp_path))
    assert problems == []
    assert value == Outer(title="t", ratio=2.0, flag=True, mode="b", pair=(3, 4),
                          many=(Inner(name="one"), Inner(name="two")),
                          table={"k": (1.0, 2.5)}, pet=Dog(bark=False), tag=7,
                          out=str(tmp_path / "sub" / "x.txt"))
    assert isinstance(value.ratio, float)  # type: ignore[attr-defined]


def test_collects_every_problem_with_its_path() -> None:
    value, problems = read({
        "ratio": "fast", "flag": "yes", "mode": "c", "pair": [1],
        "many": [{"name": "a", "size": 9}, {"name": "a", "colour": 1}],
        "table": {"k": "x"}, "pet": {"type": "cow"}, "tag": 1.5, "titel": "t",
    })
    assert value is INVALID
    assert problems == [
        "f.yaml:titel: unknown key (did you mean 'title'?)",
        "f.yaml:title: required key is missing",
        "f.yaml:ratio: expected a number, got string 'fast'",
        "f.yaml:flag: expected true or false, got string 'yes'",
        "f.yaml:mode: must be one of: a, b (got string 'c')",
        "f.yaml:pair: expected a list of 2 items, got 1",
        "f.yaml:many[1].name: duplicate name 'a' (also many[0])",
        "f.yaml:many[0].size: must be between 1 and 8 (got 9)",
        "f.yaml:many[1].colour: unknown key (expected one of: name, size)",
        "f.yaml:table.k: expected a list, got string 'x'",
        "f.yaml:pet.type: must be one of: cat, dog (got string 'cow')",
        "f.yaml:tag: expected a string or an integer, got number 1.5",
    ]


def test_validate_hook_runs_on_a_complete_object() -> None:
    _, problems = read({"title": "t", "pair": [5, 1]})
    assert problems == ["f.yaml:pair: first must not exceed second"]


def test_bools_are_not_numbers_and_numbers_are_not_strings() -> None:
    _, problems = read({"title": 12, "ratio": True})
    assert problems == ["f.yaml:title: expected a string, got integer 12 (quote it)",
                        "f.yaml:ratio: expected a number, got true"]


def test_non_finite_numbers_are_refused() -> None:
    _, problems = read({"title": "t", "ratio": float("nan")})
    assert problems == ["f.yaml:ratio: must be a finite number (got nan)"]


def test_inherit_takes_missing_keys_from_a_sibling() -> None:
    value, problems = read({"title": "t", "template": {"name": "base", "size": 6},
                            "many": [{"name": "a"}, {"name": "b", "size": 2}]})
    assert problems == []
    assert value.many == (Inner(name="a", size=6), Inner(name="b", size=2))  # type: ignore[attr-defined]


def test_files_must_exist_unless_told_otherwise(tmp_path: Path) -> None:
    _, problems = read({"title": "t", "model": "m.onnx"}, base_dir=str(tmp_path))
    assert problems == [f"f.yaml:model: file not found: {tmp_path / 'm.onnx'}"]
    value, problems = read({"title": "t", "model": "m.onnx"}, base_dir=str(tmp_path),
                           check_files=False)
    assert problems == [] and value.model == str(tmp_path / "m.onnx")  # type: ignore[attr-defined]
    value, problems = read({"title": "t", "model": "builtin"}, base_dir=str(tmp_path))
    assert problems == [] and value.model == "builtin"  # type: ignore[attr-defined]


def test_line_numbers_are_appended_when_known() -> None:
    _, problems = read({"title": "t", "ratio": -1, "many": [{"name": "a", "size": 0}]},
                       lines={"ratio": 3, "many[0]": 7})
    assert problems == ["f.yaml:ratio: must be greater than 0 (got -1) (line 3)",
                        "f.yaml:many[0].size: must be between 1 and 8 (got 0) (line 7)"]


@pytest.mark.parametrize("data", [None, [], "text", 3])
def test_a_section_that_is_not_a_mapping(data: object) -> None:
    value, problems = read(data)
    assert value is INVALID
    assert len(problems) == 1
    assert problems[0].startswith("f.yaml: expected a mapping (keys: title, ratio,")
