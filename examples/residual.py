"""A residual network of your own, with stochastic depth on its branches: the model of the modern-recipe
examples, and a model file for the command line::

    reglab compare --model examples/residual.py:build --data digits \\
        --methods none,label-smoothing,mixup,drop-path,sam,ema

Each block adds a branch, Linear → BatchNorm → ReLU → Linear, to its input through a tunable
``reglab.DropPath()``: the identity until the ``drop-path`` method sets its rate.
"""

from __future__ import annotations

from torch import nn

import reglab


class Block(nn.Module):
    """x + DropPath(f(x)), f = Linear → BatchNorm → ReLU → Linear."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.branch = nn.Sequential(
            nn.Linear(width, width, bias=False), nn.BatchNorm1d(width), nn.ReLU(), nn.Linear(width, width)
        )
        self.drop_path = reglab.DropPath()

    def forward(self, x):
        return x + self.drop_path(self.branch(x))


def build(inputs: int = 64, classes: int = 10, width: int = 128, blocks: int = 2) -> nn.Module:
    """Flatten → Linear(inputs, width) → ``blocks`` residual blocks → ReLU → Linear(width, classes)."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(inputs, width),
        *[Block(width) for _ in range(blocks)],
        nn.ReLU(),
        nn.Linear(width, classes),
    )
