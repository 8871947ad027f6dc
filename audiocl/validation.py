"""Shared argument checks: each returns the value (normalised) or raises a ``ValueError`` naming the argument.

Constructors, the recipe schema and the CLI call these instead of re-typing ``isinstance(v, bool) or int(v) !=
v or v <= 0`` each time, so one rule holds everywhere: bools are not numbers, ``inf`` and ``nan`` are never
valid sizes, rates or learning rates, and a choice lists what it could have been.

>>> positive_int("batch_size", 64)
64
>>> finite_number("lr", float("inf"), minimum=0, exclusive=True)
Traceback (most recent call last):
    ...
ValueError: lr must be a finite number > 0, got inf
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

__all__ = ["positive_int", "non_negative_int", "finite_number", "probability", "choice"]


def _integer(name: str, value: Any, kind: str) -> int:
    # Bools are ints to Python but never a count; an integral float (16000.0) is accepted as its int.
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    if isinstance(value, numbers.Integral):
        return int(value)
    if not math.isfinite(value) or int(value) != value:
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return int(value)


def positive_int(name: str, value: Any, *, allow_none: bool = False) -> int | None:
    """``value`` as an int >= 1 (``None`` passes when ``allow_none``)."""
    if value is None and allow_none:
        return None
    kind = "a positive int" + (" or None" if allow_none else "")
    number = _integer(name, value, kind)
    if number < 1:
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return number


def non_negative_int(name: str, value: Any) -> int:
    """``value`` as an int >= 0."""
    number = _integer(name, value, "an int >= 0")
    if number < 0:
        raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    return number


def finite_number(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive: bool = False,
) -> float:
    """``value`` as a finite float within ``[minimum, maximum]`` (``minimum`` excluded when ``exclusive``)."""
    bound = []
    if minimum is not None:
        bound.append(f"{'>' if exclusive else '>='} {minimum:g}")
    if maximum is not None:
        bound.append(f"<= {maximum:g}")
    kind = "a finite number" + (" " + " and ".join(bound) if bound else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    low_ok = minimum is None or (value > minimum if exclusive else value >= minimum)
    if not low_ok or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return float(value)


def probability(name: str, value: Any) -> float:
    """``value`` as a float in [0, 1]."""
    return finite_number(name, value, minimum=0.0, maximum=1.0)


def choice(name: str, value: Any, choices: Iterable[str]) -> Any:
    """``value`` if it is one of ``choices`` (e.g. a registry's names), else an error listing them."""
    options = list(choices)
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(str, options))}; got {value!r}")
    return value
