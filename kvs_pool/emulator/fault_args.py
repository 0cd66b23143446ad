"""The fields of one fault request (``POST /_emulator/faults``), read with their type and bounds.

A malformed request (not an object, a string where a number goes, a negative size, a count of
a billion) is a ``FaultRequestError`` naming the field and the reason, which the control API
answers with 400: never a 500, and never an absurd fault accepted silently. JSON numbers are
Python ``int``/``float``; ``true``/``false`` are not numbers here, and counts must be integers.

==================  ==================================  ============================
field               faults                              accepted
==================  ==================================  ============================
seconds             session_seconds                     null or 0.1 .. 43200 (KVS Expires cap)
seconds             stall                               null or 0.1 .. 86400
count               error_burst, throttle               integer 1 .. 10000
count               corrupt                             integer 1 .. 1000
status              error_burst                         integer 400 .. 599
width, height       resolution                          even integers 16..7680, 16..4320
stream, code, api   any                                 null or a string of 1..256 chars
==================  ==================================  ============================
"""

from __future__ import annotations

from typing import Any

__all__ = ["FaultRequestError", "as_object", "number", "integer", "text"]

_TEXT_MAX = 256


class FaultRequestError(ValueError):
    """A fault request the emulator refuses (answered 400 with this message)."""


def as_object(doc: Any) -> dict[str, Any]:
    """The request body, which must be a JSON object."""
    if not isinstance(doc, dict):
        raise FaultRequestError(f"the body must be a JSON object, not {type(doc).__name__}")
    return doc


def number(doc: dict[str, Any], key: str, low: float, high: float,
           default: float | None = None) -> float | None:
    """``doc[key]`` as a number in [low, high]; null or absent: ``default``."""
    value = doc.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise FaultRequestError(f"{key}: must be null or a number from {low:g} to {high:g}, "
                                f"not {value!r}")
    return float(value)


def integer(doc: dict[str, Any], key: str, low: int, high: int, default: int | None = None,
            even: bool = False) -> int:
    """``doc[key]`` as an integer in [low, high] (absent: ``default``, if there is one)."""
    value = doc.get(key, default)
    if (isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
            and not (even and value % 2)):
        return value
    kind = "an even integer" if even else "an integer"
    raise FaultRequestError(f"{key}: must be {kind} from {low} to {high}, not {value!r}")


def text(doc: dict[str, Any], key: str) -> str | None:
    """``doc[key]`` as a short string, or None when null or absent."""
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= _TEXT_MAX:
        raise FaultRequestError(f"{key}: must be null or a string of 1 to {_TEXT_MAX} "
                                f"characters, not {value!r:.80}")
    return value
