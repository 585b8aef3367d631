"""Argument checks shared by every public constructor, with one message template.

Each check raises ``ValueError("Invalid value for argument NAME: expected RANGE. Received: NAME=VALUE")``
and returns the value as a float, so constructors can write ``self.p = check_probability("p", p)``.
"""

from __future__ import annotations

import math


def _fail(name: str, expected: str, value: object) -> None:
    raise ValueError(f"Invalid value for argument {name}: expected {expected}. Received: {name}={value!r}")


def _finite(name: str, value: object, expected: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        _fail(name, expected, value)
    if not math.isfinite(number):
        _fail(name, expected, value)
    return number


def check_nonnegative(name: str, value: object) -> float:
    """A finite number >= 0 (penalty strengths, decay, noise scales)."""
    expected = "a finite non-negative number"
    number = _finite(name, value, expected)
    if number < 0:
        _fail(name, expected, value)
    return number


def check_positive(name: str, value: object) -> float:
    """A finite number > 0 (learning rates, max-norm radii)."""
    expected = "a finite positive number"
    number = _finite(name, value, expected)
    if number <= 0:
        _fail(name, expected, value)
    return number


def check_probability(name: str, value: object) -> float:
    """A drop probability p in [0, 1): p = 1 would drop every unit."""
    expected = "a probability in [0, 1)"
    number = _finite(name, value, expected)
    if not 0 <= number < 1:
        _fail(name, expected, value)
    return number


def check_fraction(name: str, value: object) -> float:
    """A mixing fraction in [0, 1] (elastic net's l1_ratio)."""
    expected = "a number in [0, 1]"
    number = _finite(name, value, expected)
    if not 0 <= number <= 1:
        _fail(name, expected, value)
    return number


def check_count(name: str, value: object, minimum: int = 1) -> int:
    """An integer >= minimum (epochs, patience, folds, passes)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        _fail(name, f"an integer >= {minimum}", value)
    return value
