"""Models and data of a user's own, as a user writes them: named by ``--model tests/own_models.py:NAME``
and ``--data tests/own_models.py:NAME`` in the command-line tests, imported by the Python ones."""

from __future__ import annotations

import numpy as np
from torch import nn

import reglab


class ResidualMLP(nn.Module):
    """x → Linear → ReLU → [dropout] → (+ a residual block) → Linear: a hand-written MLP with a tunable dropout."""

    def __init__(self, n_in: int = 64, width: int = 32, n_out: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Linear(n_in, width), nn.ReLU(), reglab.Dropout())
        self.block = nn.Sequential(nn.Linear(width, width), nn.ReLU())
        self.head = nn.Linear(width, n_out)

    def forward(self, x):
        h = self.stem(x)
        return self.head(h + self.block(h))


def build() -> nn.Module:
    return ResidualMLP()


def build_wider() -> nn.Module:
    return ResidualMLP(width=48)


def build_without_dropout() -> nn.Module:
    return nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))


def build_wrong_outputs() -> nn.Module:
    return nn.Sequential(nn.Linear(64, 3))


def build_not_a_module():
    return "a model"


def build_that_raises() -> nn.Module:
    raise RuntimeError("out of ideas")


def load() -> tuple[np.ndarray, np.ndarray]:
    """A third of the digits as (X, y) arrays."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X[::3], y[::3]


def load_empty() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((0, 4)), np.zeros(0, dtype=np.int64)


def load_uneven() -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """Inputs of two arrays whose row counts differ."""
    return (np.zeros((30, 2), dtype=np.int64), np.zeros((20, 3))), np.arange(30) % 2


def load_four_columns() -> tuple[np.ndarray, np.ndarray]:
    return np.arange(120.0).reshape(30, 4), np.arange(30) % 2


def load_five_columns() -> tuple[np.ndarray, np.ndarray]:
    return np.arange(150.0).reshape(30, 5), np.arange(30) % 2
