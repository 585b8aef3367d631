"""Inputs of several tensors against one: ``reglab.fit`` on a torch Dataset of ((codes, numbers), y) items and
on one of single float tensors holding the same five columns, each read through a DataLoader and cached by
``reglab.cache`` (1 thread, 3 epochs of 4000 items, best of 5).

Run: .venv/bin/python bench/inputs.py
"""

from __future__ import annotations

import os
import time

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

import reglab

ROWS, EPOCHS = 4000, 3


class Items(Dataset):
    def __init__(self, inputs, y) -> None:
        self.inputs, self.y = inputs, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return (tuple(part[i] for part in self.inputs) if isinstance(self.inputs, tuple) else self.inputs[i]), self.y[i]


class Net(nn.Module):
    """An embedding of two code columns beside three numbers; takes (codes, numbers) or the five columns."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding, self.linear = nn.Embedding(5, 4), nn.Linear(11, 2)

    def forward(self, x):
        codes, numbers = x if isinstance(x, (tuple, list)) else (x[:, :2].long(), x[:, 2:])
        return self.linear(torch.cat([self.embedding(codes).flatten(1), numbers], 1))


def seconds(data) -> float:
    times = []
    for _ in range(5):
        start = time.perf_counter()
        reglab.fit(Net(), data, config=reglab.FitConfig(epochs=EPOCHS, device="cpu"))
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    codes, numbers = torch.as_tensor(rng.integers(0, 5, size=(ROWS, 2))), torch.randn(ROWS, 3)
    y = torch.as_tensor(rng.integers(0, 2, ROWS))
    several, single = Items((codes, numbers), y), Items(torch.cat([codes.float(), numbers], 1), y)
    print(f"# load average {os.getloadavg()[0]:.2f}")
    for label, data in (("dataloader", (several, single)), ("cached", (reglab.cache(several), reglab.cache(single)))):
        several_s, single_s = (seconds(d) for d in data)
        print(f"inputs {label} several_s={several_s:.3f} single_s={single_s:.3f} ratio={several_s / single_s:.2f}")
    print(f"# load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
