"""Strength schedules: the factor s(step) that multiplies a penalty's λ at each optimizer step.

A schedule is any callable ``step -> factor``; λ_t = λ · s(t). Constant is the default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reglab.validation import check_count

Schedule = Callable[[int], float]


def constant(step: int) -> float:
    """s(t) = 1."""
    return 1.0


@dataclass(frozen=True)
class Warmup:
    """Linear warm-up: s(t) = min(1, (t + 1) / steps), full strength after ``steps`` steps."""

    steps: int

    def __post_init__(self) -> None:
        check_count("steps", self.steps)

    def __call__(self, step: int) -> float:
        return min(1.0, (step + 1) / self.steps)
